// The rule for what tests need from the machine (test/helpers/requirements.ts): a missing tool fails
// with the command that installs it; PEXD_TEST_SKIP opts out by name; a misspelt name is an error.
import { describe, expect, test } from "bun:test";
import { need, optedOut, REQUIREMENTS, unknownOptOuts } from "./helpers/requirements.ts";

describe("test requirements", () => {
  test("PEXD_TEST_SKIP names requirements; `all` means every one", () => {
    expect([...optedOut({ PEXD_TEST_SKIP: " chromium, systemd ," })]).toEqual(["chromium", "systemd"]);
    expect(optedOut({ PEXD_TEST_SKIP: "all" }).size).toBe(Object.keys(REQUIREMENTS).length);
    expect(optedOut({}).size).toBe(0);
  });

  test("a misspelt name is reported, not silently ignored", () => {
    expect(unknownOptOuts({ PEXD_TEST_SKIP: "chromium,chromeum" })).toEqual(["chromeum"]);
  });

  test("this run's PEXD_TEST_SKIP holds only known names", () => {
    expect(unknownOptOuts()).toEqual([]);
  });

  test("a missing requirement fails with its install command and the opt-out", () => {
    const saved = REQUIREMENTS.nginx.present;
    REQUIREMENTS.nginx.present = () => false;
    try {
      expect(() => need("nginx")).toThrow(/nginx is missing .*apt-get install -y nginx[\s\S]*PEXD_TEST_SKIP=nginx/);
    } finally {
      REQUIREMENTS.nginx.present = saved;
    }
  });
});
