// Why a sign-in did not happen, in words for the event feed: a refusal by the
// app's policy, or a failure Auth.js reports by its error type. The code stays
// in brackets after the words, for searching and for the server log.
import type { RefusalReason } from "./policy";

const REFUSAL_WORDS: Record<RefusalReason, string> = {
  "no-email": "the identity provider shared no email address",
  "unverified-email": "the identity provider has not verified the email address",
  "not-allowed": "the email address is not on the allowed list",
  disabled: "the account is disabled",
};

// Auth.js's error types (@auth/core errors) that reach the logger in practice.
const FAILURE_WORDS: Record<string, string> = {
  InvalidCheck:
    "the sign-in could not be verified (its state, nonce or PKCE cookie was missing or did not match): an old or reused sign-in tab, or blocked cookies",
  OAuthCallbackError: "the identity provider answered with an error",
  CallbackRouteError: "the identity provider's answer could not be used",
  OAuthSignInError: "the sign-in with the identity provider could not be started",
  OAuthProfileParseError: "the identity provider's profile could not be read",
  OAuthAccountNotLinked: "this email is already linked to another sign-in method",
  MissingCSRF: "the sign-in form's anti-forgery token was missing or wrong",
  InvalidCallbackUrl: "the address to return to after sign-in was refused",
  UntrustedHost: "the request came through a host name the app does not trust",
  InvalidProvider: "an unknown identity provider was asked for",
  UnknownAction: "an unknown sign-in action was asked for",
  Verification: "the sign-in link is no longer valid",
  AdapterError: "the database could not be reached while signing in",
  SessionTokenError: "the session could not be read",
  Configuration: "sign-in is not configured correctly on the server",
};

/** "the email address is not on the allowed list (not-allowed)" */
export function refusalWords(reason: RefusalReason): string {
  return `${REFUSAL_WORDS[reason]} (${reason})`;
}

/** "the identity provider answered with an error (OAuthCallbackError)"; an unknown type is named as such. */
export function signInFailureWords(type: string): string {
  return Object.hasOwn(FAILURE_WORDS, type) ? `${FAILURE_WORDS[type]} (${type})` : `an unexpected error (${type})`;
}
