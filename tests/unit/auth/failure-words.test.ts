import { describe, expect, it } from "vitest";
import { refusalWords, signInFailureWords } from "~/server/auth/failure-words";
import { REFUSAL_MESSAGES, type RefusalReason } from "~/server/auth/policy";

describe("sign-in refusals and failures in words", () => {
  it("words every refusal reason the policy can give, with the code after", () => {
    for (const reason of Object.keys(REFUSAL_MESSAGES) as RefusalReason[]) expect(refusalWords(reason)).toMatch(new RegExp(`^[a-z][^()]+ \\(${reason}\\)$`));
    expect(refusalWords("not-allowed")).toBe("the email address is not on the allowed list (not-allowed)");
  });

  it("says what InvalidCheck means instead of the bare code", () => {
    expect(signInFailureWords("InvalidCheck")).toMatch(/^the sign-in could not be verified .* \(InvalidCheck\)$/);
  });

  it("names an unknown type as unexpected, and does not read inherited keys", () => {
    expect(signInFailureWords("SomethingNew")).toBe("an unexpected error (SomethingNew)");
    expect(signInFailureWords("toString")).toBe("an unexpected error (toString)");
  });
});
