/**
 * Makes an API key, or hashes one, for `auth.apiKeys` in the config.
 *
 *     deno task hash-key            # a new random key, and its hash
 *     deno task hash-key KEY        # the hash of an existing key
 *
 * The key goes to the client only; the config gets the hash.
 *
 * @module
 */
import { generateApiKey, hashApiKey, MIN_API_KEY_LENGTH } from "./api_keys.ts";

/** Runs the helper; returns the exit code. */
export function main(args: string[]): number {
  if (args.length > 1 || args[0] === "--help" || args[0] === "-h") {
    console.error("usage: deno task hash-key [KEY]");
    return 2;
  }
  if (args.length === 0) {
    const { key, hash } = generateApiKey();
    console.log(`key:  ${key}`);
    console.log(`hash: ${hash}`);
    return 0;
  }
  if (args[0].length < MIN_API_KEY_LENGTH) {
    console.error(
      `a key must have at least ${MIN_API_KEY_LENGTH} characters of randomness; ` +
        `run without arguments to make one`,
    );
    return 2;
  }
  if (args[0].includes(".")) {
    // A bearer token with dots is taken for a JWT, so a key must have none.
    console.error("a key must not contain '.'; run without arguments to make one");
    return 2;
  }
  console.log(hashApiKey(args[0]));
  return 0;
}

if (import.meta.main) Deno.exit(main(Deno.args));
