// Compiles contracts/sol with the npm `solc` compiler pinned in tests/clients and writes the
// artifacts (ABI + creation bytecode) to contracts/artifacts. With --check it writes nothing
// and exits 1 if the checked-in artifacts differ from a fresh build.
//
//   node contracts/build.mjs           rebuild the artifacts
//   node contracts/build.mjs --check   fail if they are stale
import { createRequire } from "node:module";
import { readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "tests", "clients", "package.json"));
const solc = require("solc");

// The contracts each artifact is taken from.
const ARTIFACTS = ["OwnedAccount", "AccountFactory", "ValidateSigOffchain"];

const sources = {};
for (const file of readdirSync(join(here, "sol")).filter((f) => f.endsWith(".sol")).sort()) {
  sources[file] = { content: readFileSync(join(here, "sol", file), "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    // Paris (no PUSH0) so the validator's eth_call runs on every EVM chain still in use.
    evmVersion: "paris",
    optimizer: { enabled: true, runs: 200 },
    // No metadata hash: the bytecode depends on the code alone, not on comments or paths.
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors ?? []).filter((e) => e.severity === "error");
for (const e of output.errors ?? []) console.error(e.formattedMessage);
if (errors.length > 0) process.exit(1);

let stale = false;
for (const name of ARTIFACTS) {
  const file = Object.keys(output.contracts).find((f) => output.contracts[f][name]);
  const c = output.contracts[file][name];
  const artifact = {
    contractName: name,
    sourceName: `contracts/sol/${file}`,
    compiler: `solc ${solc.version()}`,
    abi: c.abi,
    bytecode: `0x${c.evm.bytecode.object}`,
  };
  const text = `${JSON.stringify(artifact, null, 2)}\n`;
  const path = join(here, "artifacts", `${name}.json`);
  if (process.argv.includes("--check")) {
    if (!existsSync(path) || readFileSync(path, "utf8") !== text) {
      console.error(`contracts/artifacts/${name}.json differs from a fresh build of contracts/sol`);
      stale = true;
    }
  } else {
    writeFileSync(path, text);
  }
}
if (stale) {
  console.error("run `node contracts/build.mjs` and commit the artifacts");
  process.exit(1);
}
