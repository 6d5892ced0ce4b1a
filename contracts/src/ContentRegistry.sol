// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC165Checker} from "@openzeppelin/contracts/utils/introspection/ERC165Checker.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/**
 * @title ContentRegistry
 * @notice Publishers register content here: its manifest CID, who may access it, what a
 * delivered byte is worth and the token budget that pays for delivery. The registry holds
 * every budget in escrow; only the bound {RewardPool} can spend it, and only the publisher can
 * take back what is left once the budget's expiry has passed.
 * @dev The owner's one power is {bindRewardPool}, callable once; binding renounces ownership,
 * so after deployment the registry has no administrator.
 */
contract ContentRegistry is Ownable {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @notice Who may obtain a content key from the publisher's key service.
    enum AccessKind {
        Public, // anyone
        ERC20, // balanceOf(account) >= minBalance on an ERC-20
        ERC721, // balanceOf(account) >= minBalance on an ERC-721
        ERC1155 // balanceOf(account, id) >= minBalance on an ERC-1155
    }

    /// @notice An access policy. `token`, `id` and `minBalance` are zero for public content;
    /// `id` is used by ERC-1155 only.
    struct AccessPolicy {
        AccessKind kind;
        address token;
        uint256 id;
        uint256 minBalance;
    }

    /// @notice Everything the registry stores about a content id.
    struct Content {
        // slot 0: read by the reward pool for every content it pays
        address publisher;
        uint64 budgetExpiry;
        uint32 keyVersion;
        // slot 1: read and written on every payment
        uint128 ratePerByte;
        uint128 budget;
        // slots 2-4
        AccessPolicy policy;
        // slot 5
        string manifestCid;
    }

    IERC20 private immutable _token;
    address private _rewardPool;
    mapping(bytes32 contentId => Content) private _contents;

    /// @notice `contentId` was registered by `publisher`.
    event ContentRegistered(
        bytes32 indexed contentId,
        address indexed publisher,
        string manifestCid,
        uint32 keyVersion,
        uint256 ratePerByte,
        uint64 budgetExpiry
    );
    /// @notice The access policy of `contentId` was set.
    event AccessPolicySet(
        bytes32 indexed contentId,
        AccessKind kind,
        address token,
        uint256 id,
        uint256 minBalance
    );
    /// @notice The manifest of `contentId` now lives at `manifestCid`, encrypted under key `keyVersion`.
    event ManifestUpdated(bytes32 indexed contentId, string manifestCid, uint32 keyVersion);
    /// @notice `from` added `amount` to the budget of `contentId`, which is now `budget`.
    event BudgetToppedUp(bytes32 indexed contentId, address indexed from, uint256 amount, uint256 budget);
    /// @notice The budget of `contentId` stays locked until `budgetExpiry`.
    event BudgetExpiryExtended(bytes32 indexed contentId, uint64 budgetExpiry);
    /// @notice The publisher took back the `amount` left in the budget of `contentId`.
    event BudgetWithdrawn(bytes32 indexed contentId, address indexed to, uint256 amount);
    /// @notice `payee` was paid `paid` for `byteCount` bytes of `contentId`; `budget` is left.
    event RewardPaid(
        bytes32 indexed contentId,
        address indexed payee,
        uint256 byteCount,
        uint256 paid,
        uint256 budget
    );
    /// @notice A payment of `owed` was cut to the `paid` that was left in the budget of `contentId`.
    event BudgetExhausted(bytes32 indexed contentId, uint256 owed, uint256 paid);
    /// @notice `pool` is now the only account that can spend budgets.
    event RewardPoolBound(address indexed pool);

    /// @notice Content ids are non-zero.
    error InvalidContentId(bytes32 contentId);
    /// @notice `contentId` is already registered, by `publisher`.
    error ContentAlreadyRegistered(bytes32 contentId, address publisher);
    /// @notice `contentId` is not registered.
    error UnknownContent(bytes32 contentId);
    /// @notice `caller` is not the publisher (`publisher`) of `contentId`.
    error NotPublisher(bytes32 contentId, address caller, address publisher);
    /// @notice A manifest CID must not be empty.
    error EmptyManifestCid(bytes32 contentId);
    /// @notice A key version may stay or grow, never go back.
    error KeyVersionRegressed(bytes32 contentId, uint32 current, uint32 given);
    /// @notice The policy is not well formed for its kind (see {AccessPolicy}).
    error InvalidAccessPolicy(AccessKind kind, address token, uint256 id, uint256 minBalance);
    /// @notice A budget expiry must lie in the future and never move earlier.
    error InvalidBudgetExpiry(bytes32 contentId, uint64 budgetExpiry, uint64 notAfter);
    /// @notice The budget of `contentId` is locked until `budgetExpiry`.
    error BudgetLocked(bytes32 contentId, uint64 budgetExpiry);
    /// @notice A top-up must add something.
    error ZeroTopUp(bytes32 contentId);
    /// @notice Tokens cannot be sent to the zero address.
    error InvalidRecipient(address to);
    /// @notice Only the bound reward pool can pay rewards; `caller` is not it.
    error NotRewardPool(address caller);

    /// @param token_ The ERC-20 that budgets are held in.
    /// @param initialOwner The account that will bind the reward pool.
    constructor(IERC20 token_, address initialOwner) Ownable(initialOwner) {
        _token = token_;
    }

    /**
     * @notice Registers `contentId` for the caller, pulling `budget` tokens from the caller
     * (approve the registry first).
     * @param contentId The publisher-chosen, non-zero content id (the one in the manifest).
     * @param manifestCid The manifest's CID.
     * @param keyVersion The key version named in that manifest.
     * @param policy Who may obtain the content key.
     * @param ratePerByte Tokens (base units) paid per delivered byte.
     * @param budget Tokens moved into escrow for rewards; more can be added with {topUp}.
     * @param budgetExpiry Unix time after which the publisher can withdraw what is left.
     */
    function register(
        bytes32 contentId,
        string calldata manifestCid,
        uint32 keyVersion,
        AccessPolicy calldata policy,
        uint128 ratePerByte,
        uint128 budget,
        uint64 budgetExpiry
    ) external {
        if (contentId == bytes32(0)) revert InvalidContentId(contentId);
        Content storage c = _contents[contentId];
        if (c.publisher != address(0)) revert ContentAlreadyRegistered(contentId, c.publisher);
        if (bytes(manifestCid).length == 0) revert EmptyManifestCid(contentId);
        if (budgetExpiry <= block.timestamp) {
            revert InvalidBudgetExpiry(contentId, budgetExpiry, uint64(block.timestamp));
        }
        _validatePolicy(policy);

        c.publisher = msg.sender;
        c.budgetExpiry = budgetExpiry;
        c.keyVersion = keyVersion;
        c.ratePerByte = ratePerByte;
        c.manifestCid = manifestCid;
        c.policy = policy;
        emit ContentRegistered(contentId, msg.sender, manifestCid, keyVersion, ratePerByte, budgetExpiry);
        emit AccessPolicySet(contentId, policy.kind, policy.token, policy.id, policy.minBalance);

        if (budget != 0) _topUp(c, contentId, budget);
    }

    /// @notice Adds `amount` tokens from the caller to the budget of `contentId`. Anyone may fund.
    function topUp(bytes32 contentId, uint128 amount) external {
        Content storage c = _requireContent(contentId);
        if (amount == 0) revert ZeroTopUp(contentId);
        _topUp(c, contentId, amount);
    }

    /// @notice Keeps the budget of `contentId` locked until `budgetExpiry`, later than before.
    function extendBudgetExpiry(bytes32 contentId, uint64 budgetExpiry) external {
        Content storage c = _requirePublisher(contentId);
        if (budgetExpiry <= c.budgetExpiry) revert InvalidBudgetExpiry(contentId, budgetExpiry, c.budgetExpiry);
        c.budgetExpiry = budgetExpiry;
        emit BudgetExpiryExtended(contentId, budgetExpiry);
    }

    /**
     * @notice Sends what is left of the budget of `contentId` to `to`, once the budget has
     * expired. Claims after that pay nothing until the budget is topped up again.
     * @return amount The tokens withdrawn.
     */
    function withdrawBudget(bytes32 contentId, address to) external returns (uint256 amount) {
        Content storage c = _requirePublisher(contentId);
        if (block.timestamp <= c.budgetExpiry) revert BudgetLocked(contentId, c.budgetExpiry);
        if (to == address(0)) revert InvalidRecipient(to);
        amount = c.budget;
        c.budget = 0;
        emit BudgetWithdrawn(contentId, to, amount);
        if (amount != 0) _token.safeTransfer(to, amount);
    }

    /**
     * @notice Points `contentId` at a new manifest, e.g. after rotating the content key: new
     * grants are then issued for `keyVersion`.
     */
    function updateManifest(bytes32 contentId, string calldata manifestCid, uint32 keyVersion) external {
        Content storage c = _requirePublisher(contentId);
        if (bytes(manifestCid).length == 0) revert EmptyManifestCid(contentId);
        if (keyVersion < c.keyVersion) revert KeyVersionRegressed(contentId, c.keyVersion, keyVersion);
        c.manifestCid = manifestCid;
        c.keyVersion = keyVersion;
        emit ManifestUpdated(contentId, manifestCid, keyVersion);
    }

    /**
     * @notice Makes `pool` the only account that can pay rewards from budgets, then renounces
     * ownership so that nobody can ever change it.
     */
    function bindRewardPool(address pool) external onlyOwner {
        // binding renounces ownership, so onlyOwner also makes this a one-time call
        if (pool == address(0)) revert InvalidRecipient(pool);
        _rewardPool = pool;
        emit RewardPoolBound(pool);
        _transferOwnership(address(0));
    }

    /**
     * @notice Pays `payee` for delivered bytes: `byteCounts[i]` bytes of `contentIds[i]` at that
     * content's rate, out of that content's budget, or whatever is left of it when the budget
     * cannot cover the bytes. One token transfer for all contents.
     * @dev Callable by the bound reward pool only, after it verified the receipts; the pool
     * passes arrays of equal length.
     * @return paid The tokens sent to `payee`.
     */
    function payRewards(
        bytes32[] calldata contentIds,
        uint256[] calldata byteCounts,
        address payee
    ) external returns (uint256 paid) {
        if (msg.sender != _rewardPool) revert NotRewardPool(msg.sender);
        for (uint256 i = 0; i < contentIds.length; ++i) {
            paid += _debit(contentIds[i], byteCounts[i], payee);
        }
        if (paid != 0) _token.safeTransfer(payee, paid);
    }

    /// @notice The publisher of `contentId`, or the zero address if it is not registered.
    function publisherOf(bytes32 contentId) external view returns (address) {
        return _contents[contentId].publisher;
    }

    /// @notice Everything stored about `contentId` (all zero if it is not registered).
    function content(bytes32 contentId) external view returns (Content memory) {
        return _contents[contentId];
    }

    /// @notice Whether `account` satisfies the access policy of `contentId` right now.
    function hasAccess(bytes32 contentId, address account) external view returns (bool) {
        AccessPolicy storage p = _requireContent(contentId).policy;
        AccessKind kind = p.kind;
        if (kind == AccessKind.Public) return true;
        if (kind == AccessKind.ERC20) return IERC20(p.token).balanceOf(account) >= p.minBalance;
        if (kind == AccessKind.ERC721) return IERC721(p.token).balanceOf(account) >= p.minBalance;
        return IERC1155(p.token).balanceOf(account, p.id) >= p.minBalance;
    }

    /// @notice The token budgets are held in.
    function token() external view returns (IERC20) {
        return _token;
    }

    /// @notice The reward pool allowed to spend budgets (zero until bound).
    function rewardPool() external view returns (address) {
        return _rewardPool;
    }

    function _topUp(Content storage c, bytes32 contentId, uint256 amount) private {
        uint256 budget = uint256(c.budget) + amount;
        c.budget = budget.toUint128();
        emit BudgetToppedUp(contentId, msg.sender, amount, budget);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev Takes the reward for `byteCount` bytes of `contentId` from its budget, capped by what is left.
    function _debit(bytes32 contentId, uint256 byteCount, address payee) private returns (uint256 paid) {
        Content storage c = _contents[contentId];
        uint256 owed = Math.saturatingMul(byteCount, c.ratePerByte);
        uint256 budget = c.budget;
        paid = Math.min(owed, budget);
        uint256 left = budget - paid;
        if (paid != 0) c.budget = uint128(left);
        emit RewardPaid(contentId, payee, byteCount, paid, left);
        if (paid < owed) emit BudgetExhausted(contentId, owed, paid);
    }

    function _requireContent(bytes32 contentId) private view returns (Content storage c) {
        c = _contents[contentId];
        if (c.publisher == address(0)) revert UnknownContent(contentId);
    }

    function _requirePublisher(bytes32 contentId) private view returns (Content storage c) {
        c = _requireContent(contentId);
        if (c.publisher != msg.sender) revert NotPublisher(contentId, msg.sender, c.publisher);
    }

    function _validatePolicy(AccessPolicy calldata p) private view {
        bool ok;
        if (p.kind == AccessKind.Public) {
            ok = p.token == address(0) && p.id == 0 && p.minBalance == 0;
        } else if (p.kind == AccessKind.ERC20) {
            ok = p.token.code.length != 0 && p.id == 0 && p.minBalance != 0;
        } else if (p.kind == AccessKind.ERC721) {
            ok =
                p.id == 0 &&
                p.minBalance != 0 &&
                ERC165Checker.supportsInterface(p.token, type(IERC721).interfaceId);
        } else {
            ok = p.minBalance != 0 && ERC165Checker.supportsInterface(p.token, type(IERC1155).interfaceId);
        }
        if (!ok) revert InvalidAccessPolicy(p.kind, p.token, p.id, p.minBalance);
    }
}
