import {
  serializeInnerList,
  serializeItem,
  type BareItem,
  type Item,
  type Parameters,
} from 'structured-headers';
import { TesseraError, type TesseraErrorCode } from '../errors.ts';
import { componentValue, parseTargetUri, type SignableRequest } from './components.ts';

/** The signature parameters Tessera understands (RFC 9421 §2.3). */
export type SignatureParameterName = 'created' | 'expires' | 'nonce' | 'keyid' | 'alg';

/** What `Signature-Input` says about one signature: the covered components and parameters. */
export interface SignatureParameters {
  /** Component identifiers, in the order they are signed. */
  readonly components: readonly string[];
  /**
   * Parameters in wire order: `created` and `expires` integers, the others strings. The order
   * is signed too (it is part of `@signature-params`), so it is kept exactly as received.
   */
  readonly params: ReadonlyMap<SignatureParameterName, number | string>;
}

/**
 * The `@signature-params` value (§2.3): the inner list re-serialised per RFC 8941 §4.1. It is
 * also the member value a signer puts in `Signature-Input`.
 */
export function serializeSignatureParameters(parameters: SignatureParameters): string {
  const items: Item[] = parameters.components.map((name) => [name, new Map<string, BareItem>()]);
  const params: Parameters = new Map(parameters.params);
  return serializeInnerList([items, params]);
}

/**
 * Builds the signature base (RFC 9421 §2.5) of `request` for `parameters`, as bytes to sign.
 * Components must be valid and distinct (the callers check). A covered field the request lacks
 * throws `missingCode`; a request that cannot be put in a base (bad method, URI or field value)
 * throws `malformedCode`.
 */
export function createSignatureBase(
  request: SignableRequest,
  parameters: SignatureParameters,
  malformedCode: TesseraErrorCode,
  missingCode: TesseraErrorCode,
): Buffer {
  const target = parseTargetUri(request.url, malformedCode);
  const lines: string[] = [];
  for (const name of parameters.components) {
    const value = componentValue(request, target, name, malformedCode);
    if (value === undefined) {
      throw new TesseraError(missingCode, `covered component "${name}" is not in the request`);
    }
    lines.push(`${serializeItem(name)}: ${value}`);
  }
  lines.push(`"@signature-params": ${serializeSignatureParameters(parameters)}`);
  return Buffer.from(lines.join('\n'), 'ascii');
}
