// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/**
 * @title DevnetPass
 * @notice An ERC-721 membership pass for gating content on the devnet and in tests.
 * @dev The owner mints passes with sequential ids starting at 1.
 */
contract DevnetPass is ERC721, Ownable {
    uint256 private _lastId;

    /// @param initialOwner The account allowed to mint.
    constructor(address initialOwner) ERC721("Peerloom Devnet Pass", "PASS") Ownable(initialOwner) {}

    /// @notice Mints the next pass to `to` and returns its id.
    function mint(address to) external onlyOwner returns (uint256 id) {
        id = ++_lastId;
        _safeMint(to, id);
    }
}
