// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/**
 * @title PeerloomToken
 * @notice The ERC-20 token publishers fund reward budgets with and servers are paid in.
 * @dev The owner can mint. On the devnet and in tests the owner is the deployer; a production
 * deployment would mint a fixed supply and renounce ownership.
 */
contract PeerloomToken is ERC20, Ownable {
    /// @param initialOwner The account allowed to mint.
    constructor(address initialOwner) ERC20("Peerloom", "LOOM") Ownable(initialOwner) {}

    /// @notice Mints `amount` tokens to `to`. Only the owner may mint.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
