// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/**
 * @title DevnetBadges
 * @notice ERC-1155 badges for gating content on the devnet and in tests.
 */
contract DevnetBadges is ERC1155, Ownable {
    /// @param initialOwner The account allowed to mint.
    constructor(address initialOwner) ERC1155("") Ownable(initialOwner) {}

    /// @notice Mints `amount` badges of kind `id` to `to`.
    function mint(address to, uint256 id, uint256 amount) external onlyOwner {
        _mint(to, id, amount, "");
    }
}
