/**
 * EIP-712 typed data for receipts and grants (docs/DESIGN.md, Formats). One signer and one
 * verifier, used by the extension, the relay's key service, the contracts' tests and the CLI.
 */
import { TypedDataEncoder, getAddress, verifyTypedData } from 'ethers'
import type { TypedDataDomain, TypedDataField } from 'ethers'
import { BadSignatureError } from './errors.ts'

export const EIP712_NAME = 'Peerloom'
export const EIP712_VERSION = '1'

/** `Receipt(address server,address client,bytes32 contentId,uint64 epoch,uint256 bytes)` */
export const RECEIPT_TYPES: Record<string, TypedDataField[]> = {
  Receipt: [
    { name: 'server', type: 'address' },
    { name: 'client', type: 'address' },
    { name: 'contentId', type: 'bytes32' },
    { name: 'epoch', type: 'uint64' },
    { name: 'bytes', type: 'uint256' }
  ]
}

/** `Grant(address client,bytes32 contentId,uint256 maxBytes,uint64 expiry)` */
export const GRANT_TYPES: Record<string, TypedDataField[]> = {
  Grant: [
    { name: 'client', type: 'address' },
    { name: 'contentId', type: 'bytes32' },
    { name: 'maxBytes', type: 'uint256' },
    { name: 'expiry', type: 'uint64' }
  ]
}

/** A client's statement that `server` delivered it `bytes` verified bytes of `contentId` in `epoch` (cumulative). */
export interface Receipt {
  server: string
  client: string
  contentId: string
  epoch: bigint
  bytes: bigint
}

/** A publisher's permission for `client` to fetch up to `maxBytes` of `contentId` until `expiry` (unix seconds). */
export interface Grant {
  client: string
  contentId: string
  maxBytes: bigint
  expiry: bigint
}

/** What signs typed data: an ethers Signer or Wallet fits. */
export interface TypedDataSigner {
  signTypedData: (domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>) => Promise<string>
}

/** The domain `{ name: "Peerloom", version: "1", chainId, verifyingContract: RewardPool }`. */
export function peerloomDomain (chainId: bigint | number, verifyingContract: string): TypedDataDomain {
  return { name: EIP712_NAME, version: EIP712_VERSION, chainId: BigInt(chainId), verifyingContract: getAddress(verifyingContract) }
}

/** Signs a receipt (by its client). */
export async function signReceipt (signer: TypedDataSigner, domain: TypedDataDomain, receipt: Receipt): Promise<string> {
  return await signer.signTypedData(domain, RECEIPT_TYPES, { ...receipt })
}

/** Signs a grant (by the content's publisher). */
export async function signGrant (signer: TypedDataSigner, domain: TypedDataDomain, grant: Grant): Promise<string> {
  return await signer.signTypedData(domain, GRANT_TYPES, { ...grant })
}

function recover (domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>, signature: string, what: string): string {
  try {
    return getAddress(verifyTypedData(domain, types, value, signature))
  } catch (err) {
    throw new BadSignatureError(`${what} signature is malformed`, { cause: err })
  }
}

/** The address that signed `receipt`. */
export function recoverReceiptSigner (domain: TypedDataDomain, receipt: Receipt, signature: string): string {
  return recover(domain, RECEIPT_TYPES, { ...receipt }, signature, 'receipt')
}

/** The address that signed `grant`. */
export function recoverGrantSigner (domain: TypedDataDomain, grant: Grant, signature: string): string {
  return recover(domain, GRANT_TYPES, { ...grant }, signature, 'grant')
}

/** Throws BadSignatureError unless `receipt` was signed by its client. */
export function verifyReceipt (domain: TypedDataDomain, receipt: Receipt, signature: string): void {
  const signer = recoverReceiptSigner(domain, receipt, signature)
  if (signer !== getAddress(receipt.client)) throw new BadSignatureError(`receipt is signed by ${signer}, not by its client ${receipt.client}`)
}

/** Throws BadSignatureError unless `grant` was signed by `publisher`. */
export function verifyGrant (domain: TypedDataDomain, grant: Grant, signature: string, publisher: string): void {
  const signer = recoverGrantSigner(domain, grant, signature)
  if (signer !== getAddress(publisher)) throw new BadSignatureError(`grant is signed by ${signer}, not by the publisher ${publisher}`)
}

/** The EIP-712 digest of a receipt, as the contract computes it. */
export function receiptDigest (domain: TypedDataDomain, receipt: Receipt): string {
  return TypedDataEncoder.hash(domain, RECEIPT_TYPES, { ...receipt })
}

/** The EIP-712 digest of a grant, as the contract computes it. */
export function grantDigest (domain: TypedDataDomain, grant: Grant): string {
  return TypedDataEncoder.hash(domain, GRANT_TYPES, { ...grant })
}
