// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ContentRegistry} from "./ContentRegistry.sol";

/**
 * @title RewardPool
 * @notice Pays servers for bytes their clients confirm they received.
 *
 * A server claims one epoch at a time. Per content and client it submits the client's latest
 * cumulative EIP-712 `Receipt` for that server and epoch, together with the client's `Grant`
 * signed by the content's publisher. Each receipt pays `min(bytes, grant.maxBytes)` bytes at the
 * content's rate, from the content's budget in the {ContentRegistry}.
 *
 * Every byte is paid at most once because:
 * - an epoch of a server can be claimed once (one bit per (server, epoch));
 * - within a claim, contents are strictly increasing and, per content, clients are strictly
 *   increasing, so a (client, content) pair appears at most once;
 * - receipts name the server (the caller) and the epoch, so they cannot be reused by another
 *   server or in another epoch.
 * A batch with any forged, expired, duplicated or unsorted entry reverts as a whole and pays
 * nothing; the error names the offending entry so the server can drop it and claim again (a
 * reverted claim does not use up the epoch).
 *
 * What the rules bound: epoch numbers are the server's to choose (any uint64, each claimable
 * once), a grant must be unexpired when the claim is mined, and `maxBytes` caps each receipt,
 * that is the bytes of one (server, epoch, client, content), not the client's bytes overall.
 * A global allowance would cost a storage write per receipt; the README weighs this.
 *
 * @dev Replay protection costs one storage bit per (server, epoch) instead of one slot per
 * receipt; 256 consecutive epochs of a server share one slot.
 */
contract RewardPool is EIP712 {
    /// @notice EIP-712 type hash of `Receipt(address server,address client,bytes32 contentId,uint64 epoch,uint256 bytes)`.
    bytes32 public constant RECEIPT_TYPEHASH =
        keccak256("Receipt(address server,address client,bytes32 contentId,uint64 epoch,uint256 bytes)");
    /// @notice EIP-712 type hash of `Grant(address client,bytes32 contentId,uint256 maxBytes,uint64 expiry)`.
    bytes32 public constant GRANT_TYPEHASH =
        keccak256("Grant(address client,bytes32 contentId,uint256 maxBytes,uint64 expiry)");

    /**
     * @notice A client's receipt for one content, with the grant that entitles the client.
     * Signatures are ERC-2098 compact (r, yParityAndS).
     */
    struct SignedReceipt {
        address client;
        /// The receipt's `bytes`: cumulative bytes this server delivered to `client` this epoch.
        uint256 byteCount;
        bytes32 receiptR;
        bytes32 receiptVS;
        uint256 grantMaxBytes;
        uint64 grantExpiry;
        bytes32 grantR;
        bytes32 grantVS;
    }

    /// @notice The receipts of one content, clients in strictly increasing order.
    struct ContentReceipts {
        bytes32 contentId;
        SignedReceipt[] receipts;
    }

    ContentRegistry private immutable _registry;
    mapping(address server => mapping(uint256 word => uint256 bits)) private _settledEpochs;

    /// @notice `server` claimed `epoch`: `receipts` receipts for `byteCount` bytes paid `paid` to `payee`.
    event EpochClaimed(
        address indexed server,
        uint64 indexed epoch,
        address indexed payee,
        uint256 receipts,
        uint256 byteCount,
        uint256 paid
    );

    /// @notice `server` already claimed `epoch`.
    error EpochAlreadySettled(address server, uint64 epoch);
    /// @notice Rewards cannot be paid to the zero address.
    error InvalidPayee(address payee);
    /// @notice A claim needs at least one content.
    error EmptyClaim();
    /// @notice Every content in a claim needs at least one receipt.
    error EmptyContentReceipts(bytes32 contentId);
    /// @notice Contents must be strictly increasing; `contentId` is not greater than `previous`.
    error ContentsNotSorted(bytes32 contentId, bytes32 previous);
    /// @notice Clients of a content must be strictly increasing; `client` is not greater than `previous`.
    error ReceiptsNotSorted(bytes32 contentId, address client, address previous);
    /// @notice `contentId` is not registered.
    error UnknownContent(bytes32 contentId);
    /// @notice The grant of `client` for `contentId` expired at `expiry`.
    error GrantExpired(address client, bytes32 contentId, uint64 expiry);
    /// @notice The receipt of `client` for `contentId` was signed by `signer` (zero: not a valid signature).
    error InvalidReceiptSignature(address client, bytes32 contentId, address signer);
    /// @notice The grant of `client` for `contentId` was signed by `signer`, not by the publisher.
    error InvalidGrantSignature(address client, bytes32 contentId, address signer, address publisher);

    /// @param registry_ The content registry whose budgets this pool spends.
    constructor(ContentRegistry registry_) EIP712("Peerloom", "1") {
        _registry = registry_;
    }

    /**
     * @notice Claims `epoch` for the caller (the receipts' `server`) and pays `payee`.
     * @param epoch The epoch named in every receipt.
     * @param payee Where the rewards go (the server itself, or its payout address).
     * @param claims Receipts grouped by content, contents strictly increasing.
     * @return paid The tokens paid in total. Less than owed only when a budget ran out: that
     * content then pays what was left and its {ContentRegistry-BudgetExhausted} is emitted.
     */
    function claim(
        uint64 epoch,
        address payee,
        ContentReceipts[] calldata claims
    ) external returns (uint256 paid) {
        if (payee == address(0)) revert InvalidPayee(payee);
        if (claims.length == 0) revert EmptyClaim();
        _markSettled(msg.sender, epoch);

        // verify everything first, then pay all contents in one call and one token transfer
        bytes32[] memory contentIds = new bytes32[](claims.length);
        uint256[] memory byteCounts = new uint256[](claims.length);
        uint256 receiptCount;
        uint256 byteCount;
        bytes32 previous;
        for (uint256 i = 0; i < claims.length; ++i) {
            ContentReceipts calldata group = claims[i];
            bytes32 contentId = group.contentId;
            if (contentId <= previous) revert ContentsNotSorted(contentId, previous);
            previous = contentId;
            uint256 groupBytes = _verifyContent(epoch, contentId, group.receipts);
            contentIds[i] = contentId;
            byteCounts[i] = groupBytes;
            receiptCount += group.receipts.length;
            byteCount = Math.saturatingAdd(byteCount, groupBytes);
        }
        paid = _registry.payRewards(contentIds, byteCounts, payee);
        emit EpochClaimed(msg.sender, epoch, payee, receiptCount, byteCount, paid);
    }

    /// @notice Whether `server` has claimed `epoch`.
    function isSettled(address server, uint64 epoch) external view returns (bool) {
        return _settledEpochs[server][epoch >> 8] & (1 << (epoch & 0xff)) != 0;
    }

    /// @notice The registry whose budgets this pool spends.
    function registry() external view returns (ContentRegistry) {
        return _registry;
    }

    /// @notice The EIP-712 domain separator receipts and grants are signed under.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _markSettled(address server, uint64 epoch) private {
        mapping(uint256 => uint256) storage words = _settledEpochs[server];
        uint256 word = epoch >> 8;
        uint256 bit = 1 << (epoch & 0xff);
        uint256 bits = words[word];
        if (bits & bit != 0) revert EpochAlreadySettled(server, epoch);
        words[word] = bits | bit;
    }

    /// @dev Verifies the receipts of one registered content; returns the bytes to pay for.
    function _verifyContent(
        uint64 epoch,
        bytes32 contentId,
        SignedReceipt[] calldata receipts
    ) private view returns (uint256) {
        address publisher = _registry.publisherOf(contentId);
        if (publisher == address(0)) revert UnknownContent(contentId);
        return _verifyReceipts(epoch, contentId, publisher, receipts);
    }

    /**
     * @dev Verifies one content's receipts to the caller, and their grants; returns the bytes
     * to pay, each receipt capped by its grant. Reverts with a typed error naming the first bad
     * entry.
     *
     * For each entry, in this order: `client` is greater than the previous entry's (so no
     * duplicates, and never zero, which a failed recovery returns); the grant has not expired;
     * `Receipt(msg.sender, client, contentId, epoch, byteCount)` recovers to `client`;
     * `Grant(client, contentId, grantMaxBytes, grantExpiry)` recovers to `publisher`.
     * Recovery follows OpenZeppelin's `ECDSA.tryRecover(digest, r, vs)`: an invalid or malleable
     * (upper-range `s`, EIP-2) signature yields the zero address; the digest is
     * `_hashTypedDataV4(keccak256(abi.encode(TYPEHASH, ...)))`.
     *
     * This loop is the cost of a claim, so it is assembly over scratch memory past the free
     * memory pointer (never allocated): the parts of both struct encodings that are the same for
     * every entry are written once per content, leaving two to three words per entry. The tests
     * check it against ethers' EIP-712 signer, field by field.
     */
    function _verifyReceipts(
        uint64 epoch,
        bytes32 contentId,
        address publisher,
        SignedReceipt[] calldata receipts
    ) private view returns (uint256 total) {
        if (receipts.length == 0) revert EmptyContentReceipts(contentId);
        // Scratch memory past the free memory pointer, never allocated:
        //   rcpt + 0x000  Receipt encoding: typehash, server, client, contentId, epoch, bytes
        //   rcpt + 0x0c0  Grant encoding: typehash, client, contentId, maxBytes, expiry
        //   rcpt + 0x160  "\x19\x01" ‖ domainSeparator ‖ structHash (0x42 bytes)
        //   rcpt + 0x1c0  ecrecover input: digest, v, r, s
        {
            bytes32 domainSeparator = _domainSeparatorV4();
            bytes32 receiptTypeHash = RECEIPT_TYPEHASH;
            bytes32 grantTypeHash = GRANT_TYPEHASH;
            assembly ("memory-safe") {
                let rcpt := mload(0x40)
                mstore(rcpt, receiptTypeHash)
                mstore(add(rcpt, 0x20), caller())
                mstore(add(rcpt, 0x60), contentId)
                mstore(add(rcpt, 0x80), epoch)
                mstore(add(rcpt, 0xc0), grantTypeHash)
                mstore(add(rcpt, 0x100), contentId)
                mstore(add(rcpt, 0x160), shl(240, 0x1901))
                mstore(add(rcpt, 0x162), domainSeparator)
            }
        }
        uint256 failure;
        uint256 failedAt;
        address signer;
        assembly ("memory-safe") {
            let rcpt := mload(0x40)

            // the signer of `digest` under compact signature (sigR, sigVS), zero if invalid
            function recoverSigner(input, digest, sigR, sigVS) -> recovered {
                let sigS := and(sigVS, 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff)
                if iszero(gt(sigS, 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0)) {
                    mstore(input, digest)
                    mstore(add(input, 0x20), add(shr(255, sigVS), 27))
                    mstore(add(input, 0x40), sigR)
                    mstore(add(input, 0x60), sigS)
                    mstore(0x00, 0) // the precompile returns nothing for an invalid signature
                    pop(staticcall(gas(), 0x01, input, 0x80, 0x00, 0x20))
                    recovered := mload(0x00)
                }
            }

            let previous := 0
            let p := receipts.offset
            let end := add(p, shl(8, receipts.length)) // SignedReceipt is 8 words
            for { } lt(p, end) { p := add(p, 0x100) } {
                let client := calldataload(p)
                let expiry := calldataload(add(p, 0xa0))
                // not ABI-encoded: revert as Solidity's decoder would
                if or(shr(160, client), shr(64, expiry)) { revert(0, 0) }
                if iszero(gt(client, previous)) {
                    failure := 1
                    break
                }
                previous := client
                if gt(timestamp(), expiry) {
                    failure := 2
                    break
                }

                let byteCount := calldataload(add(p, 0x20))
                mstore(add(rcpt, 0x40), client)
                mstore(add(rcpt, 0xa0), byteCount)
                mstore(add(rcpt, 0x182), keccak256(rcpt, 0xc0))
                signer := recoverSigner(add(rcpt, 0x1c0), keccak256(add(rcpt, 0x160), 0x42), calldataload(add(p, 0x40)), calldataload(add(p, 0x60)))
                if iszero(eq(signer, client)) {
                    failure := 3
                    break
                }

                let maxBytes := calldataload(add(p, 0x80))
                mstore(add(rcpt, 0xe0), client)
                mstore(add(rcpt, 0x120), maxBytes)
                mstore(add(rcpt, 0x140), expiry)
                mstore(add(rcpt, 0x182), keccak256(add(rcpt, 0xc0), 0xa0))
                signer := recoverSigner(add(rcpt, 0x1c0), keccak256(add(rcpt, 0x160), 0x42), calldataload(add(p, 0xc0)), calldataload(add(p, 0xe0)))
                if iszero(eq(signer, publisher)) {
                    failure := 4
                    break
                }

                // total = saturatingAdd(total, min(byteCount, maxBytes))
                if lt(maxBytes, byteCount) { byteCount := maxBytes }
                total := add(total, byteCount)
                if lt(total, byteCount) { total := not(0) }
            }
            failedAt := shr(8, sub(p, receipts.offset))
        }
        if (failure != 0) _revertBadEntry(failure, contentId, publisher, receipts, failedAt, signer);
    }

    /// @dev Reverts with the typed error for the entry `index` that failed check `failure` of {_verifyReceipts}.
    function _revertBadEntry(
        uint256 failure,
        bytes32 contentId,
        address publisher,
        SignedReceipt[] calldata receipts,
        uint256 index,
        address signer
    ) private pure {
        SignedReceipt calldata r = receipts[index];
        if (failure == 1) revert ReceiptsNotSorted(contentId, r.client, index == 0 ? address(0) : receipts[index - 1].client);
        if (failure == 2) revert GrantExpired(r.client, contentId, r.grantExpiry);
        if (failure == 3) revert InvalidReceiptSignature(r.client, contentId, signer);
        revert InvalidGrantSignature(r.client, contentId, signer, publisher);
    }
}
