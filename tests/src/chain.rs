//! A real local chain for contract-wallet tests: anvil from the npm package
//! `@foundry-rs/anvil` (installed in `tests/clients` by the project's script), started on a
//! free loopback port, and driven with viem through `tests/clients/chain.mjs`. Also an RPC
//! endpoint that accepts connections and never answers.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::clients_dir;

/// The chain id anvil runs with.
pub const CHAIN_ID: u64 = 31337;

/// A running anvil; killed when dropped.
pub struct Anvil {
    pub rpc: String,
    child: Child,
}

impl Anvil {
    pub async fn start() -> Result<Anvil> {
        let mut child = Command::new(anvil_binary()?)
            .args(["--host", "127.0.0.1", "--port", "0", "--chain-id"])
            .arg(CHAIN_ID.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start anvil")?;
        let mut lines = BufReader::new(child.stdout.take().context("anvil stdout")?).lines();
        let port = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.trim().strip_prefix("Listening on ") {
                    return Ok::<_, anyhow::Error>(addr.to_string());
                }
            }
            anyhow::bail!("anvil exited before listening")
        })
        .await
        .context("anvil did not start in 60 s")??;
        // Keep reading, so anvil never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Anvil {
            rpc: format!("http://{port}"),
            child,
        })
    }

    /// Stops the chain: its port refuses connections from now on.
    pub async fn stop(&mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// Runs a `chain.mjs` action against this chain.
    pub async fn run(&self, action: &str, args: Value) -> Result<Value> {
        let mut input = json!({ "action": action, "rpc": self.rpc });
        if let (Some(obj), Some(more)) = (input.as_object_mut(), args.as_object()) {
            obj.extend(more.clone());
        }
        crate::node_client("chain.mjs", &input).await
    }

    /// Deploys the account factory; its address.
    pub async fn deploy_factory(&self) -> Result<String> {
        Ok(self.run("deployFactory", json!({})).await?["factory"]
            .as_str()
            .context("factory")?
            .to_string())
    }

    /// The counterfactual address of the account of (`owner`, `salt`), from the factory.
    pub async fn account_address(&self, factory: &str, owner: &str, salt: u8) -> Result<String> {
        let args = json!({ "factory": factory, "owner": owner, "salt": salt32(salt) });
        Ok(self.run("accountAddress", args).await?["account"]
            .as_str()
            .context("account")?
            .to_string())
    }

    /// Deploys the account of (`owner`, `salt`); its address (EIP-55).
    pub async fn deploy_account(&self, factory: &str, owner: &str, salt: u8) -> Result<String> {
        let args = json!({ "factory": factory, "owner": owner, "salt": salt32(salt) });
        Ok(self.run("deployAccount", args).await?["account"]
            .as_str()
            .context("account")?
            .to_string())
    }

    /// The code at `address` (`0x` when none).
    pub async fn code(&self, address: &str) -> Result<String> {
        Ok(
            self.run("code", json!({ "address": address })).await?["code"]
                .as_str()
                .context("code")?
                .to_string(),
        )
    }
}

/// The platform's anvil binary itself: the package's `bin.mjs` is a Node wrapper that would
/// outlive a kill and leave anvil running.
fn anvil_binary() -> Result<std::path::PathBuf> {
    let scope = clients_dir()?.join("node_modules/@foundry-rs");
    for entry in std::fs::read_dir(&scope)? {
        let path = entry?.path().join("bin/anvil");
        if path.is_file() {
            return Ok(path);
        }
    }
    anyhow::bail!(
        "no platform package of @foundry-rs/anvil in {}",
        scope.display()
    )
}

fn salt32(salt: u8) -> String {
    format!("0x{}", hex::encode(salt_bytes(salt)))
}

/// The 32-byte CREATE2 salt `salt` stands for.
pub fn salt_bytes(salt: u8) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[31] = salt;
    s
}

/// The factory call that deploys the account of (`owner`, `salt`), as an ERC-6492 signature
/// carries it (the contracts crate's binding).
pub fn factory_calldata(owner: &str, salt: u8) -> Result<String> {
    let data = contracts::factory::deploy(owner.parse()?, salt_bytes(salt));
    Ok(format!("0x{}", hex::encode(data)))
}

/// An "RPC endpoint" that accepts connections and never answers; dropped with the task.
pub async fn hanging_rpc() -> Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    Ok((url, task))
}

/// A URL where nothing listens.
pub fn closed_rpc() -> Result<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Ok(format!("http://127.0.0.1:{port}"))
}

/// A fresh key pair: `(private key hex with 0x, EIP-55 address)`.
pub fn new_key() -> (String, String) {
    use sha3::Digest;
    let secret = accounts::secret::random_bytes::<32>();
    let key = k256::ecdsa::SigningKey::from_slice(&secret).expect("a random scalar is a key");
    let point = key.verifying_key().to_encoded_point(false);
    let hash = sha3::Keccak256::digest(&point.as_bytes()[1..]);
    let mut address = [0u8; 20];
    address.copy_from_slice(&hash[12..]);
    (
        format!("0x{}", hex::encode(secret)),
        wallet::Address(address).to_string(),
    )
}
