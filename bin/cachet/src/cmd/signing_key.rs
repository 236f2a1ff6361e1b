//! `cachet signing-key new hsm:pkcs11:URI`: a secp256k1 key pair made inside a PKCS#11 token.

use std::path::PathBuf;

use cachet_kms::{DigestSigner as _, KmsConfig, Pkcs11Signer, SignerBackend, SigningKeySpec};
use clap::Subcommand;

use crate::exit::Failure;

/// Signing-key commands.
#[derive(Debug, Subcommand)]
pub(crate) enum SigningKeyCommand {
    /// Create a secp256k1 key pair inside a PKCS#11 token (the private key non-extractable,
    /// sensitive, allowed to sign only) for `cachet init --sealing-key hsm:…` or
    /// `--wallet-key hsm:…`; refuses when a key already matches the URI. Prints the reference
    /// and the key's Ethereum address. (AWS KMS keys are created in AWS: docs/aws-kms.md.)
    New {
        /// `hsm:pkcs11:URI` (RFC 7512: token=…;object=…[;id=…]?pin-source=file:PATH
        /// [&module-path=…]).
        reference: String,
        /// PKCS#11 module (shared library) when the URI has no module-path.
        #[arg(long, value_name = "PATH", env = "CACHET_PKCS11_MODULE")]
        pkcs11_module: Option<PathBuf>,
    },
}

pub(crate) fn run(command: SigningKeyCommand) -> Result<(), Failure> {
    match command {
        SigningKeyCommand::New {
            reference,
            pkcs11_module,
        } => {
            let spec = SigningKeySpec::parse(&reference)?;
            if spec.backend == SignerBackend::Kms {
                return Err(Failure::usage(
                    "AWS KMS signing keys are created in AWS (aws kms create-key --key-spec ECC_SECG_P256K1 --key-usage SIGN_VERIFY); see docs/aws-kms.md",
                ));
            }
            let config = KmsConfig {
                pkcs11_module,
                ..KmsConfig::default()
            };
            let signer = Pkcs11Signer::create(&spec.key, &config)?;
            let public = signer.public_key();
            // An Ethereum address: the last 20 bytes of keccak(x ‖ y).
            let hash = alloy_primitives::keccak256(&public[1..]);
            super::emit(
                &serde_json::to_string_pretty(&serde_json::json!({
                    "reference": reference,
                    "address": format!("0x{}", hex::encode(&hash[12..])),
                    "public_key": hex::encode(public),
                }))
                .unwrap_or_default(),
            );
            Ok(())
        }
    }
}
