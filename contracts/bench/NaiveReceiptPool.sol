// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/**
 * @title NaiveReceiptPool
 * @notice Benchmark baseline only, never deployed outside `bench/`: the straightforward pool.
 * It verifies each receipt's client signature and marks the receipt's digest used in a fresh
 * storage slot. It does not check grants, so it does less than {RewardPool}.
 */
contract NaiveReceiptPool is EIP712 {
    using SafeERC20 for IERC20;

    bytes32 private constant RECEIPT_TYPEHASH =
        keccak256("Receipt(address server,address client,bytes32 contentId,uint64 epoch,uint256 bytes)");

    struct Receipt {
        address server;
        address client;
        bytes32 contentId;
        uint64 epoch;
        uint256 byteCount;
    }

    struct SignedReceipt {
        Receipt receipt;
        bytes signature;
    }

    IERC20 private immutable _token;
    uint256 private immutable _ratePerByte;
    mapping(bytes32 digest => bool) private _used;

    event Claimed(address indexed server, uint256 receipts, uint256 paid);

    error WrongServer(address server);
    error WrongSigner(address client, address signer);
    error ReceiptUsed(bytes32 digest);

    constructor(IERC20 token, uint256 ratePerByte) EIP712("Peerloom", "1") {
        _token = token;
        _ratePerByte = ratePerByte;
    }

    /// @notice Pays the caller for each receipt, once per receipt.
    function claim(SignedReceipt[] calldata receipts) external {
        uint256 total;
        for (uint256 i = 0; i < receipts.length; ++i) {
            Receipt calldata r = receipts[i].receipt;
            if (r.server != msg.sender) revert WrongServer(r.server);
            bytes32 digest = _hashTypedDataV4(
                keccak256(abi.encode(RECEIPT_TYPEHASH, r.server, r.client, r.contentId, r.epoch, r.byteCount))
            );
            address signer = ECDSA.recoverCalldata(digest, receipts[i].signature);
            if (signer != r.client) revert WrongSigner(r.client, signer);
            if (_used[digest]) revert ReceiptUsed(digest);
            _used[digest] = true;
            total += r.byteCount;
        }
        uint256 paid = total * _ratePerByte;
        emit Claimed(msg.sender, receipts.length, paid);
        _token.safeTransfer(msg.sender, paid);
    }
}
