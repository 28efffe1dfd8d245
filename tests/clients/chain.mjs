// Drives the local chain (anvil) the way a wallet's deployer would, with viem: deploys the
// contracts of contracts/artifacts, deploys counterfactual accounts through the factory and
// changes an account's owner.
// Usage: node chain.mjs '{"action", "rpc", ...}'; prints a JSON object.
//   deployFactory {}                                  -> {factory}
//   accountAddress {factory, owner, salt}             -> {account} (the factory's own answer)
//   deployAccount {factory, owner, salt}              -> {account}
//   setOwner {account, ownerKey, newOwner}            -> {owner}
//   code {address}                                    -> {code}
import { readFileSync } from 'node:fs';
import {
  createPublicClient, createTestClient, createWalletClient, http,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';

// anvil's first development account (public test key of the default mnemonic).
const DEPLOYER = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

const input = JSON.parse(process.argv[2]);
const artifact = (name) =>
  JSON.parse(readFileSync(new URL(`../../contracts/artifacts/${name}.json`, import.meta.url)));
const factoryArt = artifact('AccountFactory');
const accountArt = artifact('OwnedAccount');
const transport = http(input.rpc);
const publicClient = createPublicClient({ chain: foundry, transport });
const wallet = (key) =>
  createWalletClient({ account: privateKeyToAccount(key), chain: foundry, transport });

async function mined(hash) {
  const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  if (receipt.status !== 'success') throw new Error(`transaction ${hash} reverted`);
  return receipt;
}

const accountAddress = (factory, owner, salt) =>
  publicClient.readContract({
    address: factory, abi: factoryArt.abi, functionName: 'accountAddress', args: [owner, salt],
  });

const actions = {
  async deployFactory() {
    const hash = await wallet(DEPLOYER).deployContract({
      abi: factoryArt.abi, bytecode: factoryArt.bytecode,
    });
    return { factory: (await mined(hash)).contractAddress };
  },
  async accountAddress({ factory, owner, salt }) {
    return { account: await accountAddress(factory, owner, salt) };
  },
  async deployAccount({ factory, owner, salt }) {
    const hash = await wallet(DEPLOYER).writeContract({
      address: factory, abi: factoryArt.abi, functionName: 'deploy', args: [owner, salt],
    });
    await mined(hash);
    return { account: await accountAddress(factory, owner, salt) };
  },
  async setOwner({ account, ownerKey, newOwner }) {
    const owner = privateKeyToAccount(ownerKey);
    await createTestClient({ chain: foundry, mode: 'anvil', transport })
      .setBalance({ address: owner.address, value: 10n ** 18n });
    const hash = await wallet(ownerKey).writeContract({
      address: account, abi: accountArt.abi, functionName: 'setOwner', args: [newOwner],
    });
    await mined(hash);
    return {
      owner: await publicClient.readContract({
        address: account, abi: accountArt.abi, functionName: 'owner',
      }),
    };
  },
  async code({ address }) {
    return { code: (await publicClient.getCode({ address })) ?? '0x' };
  },
};

const run = actions[input.action];
if (!run) throw new Error(`unknown action ${input.action}`);
console.log(JSON.stringify(await run(input)));
