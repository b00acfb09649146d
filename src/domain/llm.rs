//! Registry of well-known open-weight language models: the architecture numbers the
//! performance model needs (parameters, layers, KV-cache width), each with its public source.
//!
//! Resolution is exact, like the GPU registry: a name is lower-cased and every
//! non-alphanumeric character is dropped ("Llama 3 70B", "llama-3-70b" and "LLaMA3-70B" all
//! become `llama370b`), then looked up in the alias table. A bare size ("a 7B model") is not a
//! model; [`LlmSpec::generic`] builds a dense stand-in for it, labelled as such.

use std::collections::HashMap;
use std::sync::OnceLock;

/// One language model's architecture.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct LlmSpec {
    /// Canonical id, lower-case with dashes: "llama-3-70b".
    pub id: &'static str,
    /// Display name: "Llama 3 70B".
    pub name: &'static str,
    /// Total parameters, billions (every expert of a mixture-of-experts model).
    pub params_b: f64,
    /// Parameters used per token, billions (equal to `params_b` for a dense model).
    pub active_params_b: f64,
    /// Transformer layers.
    pub layers: u32,
    /// Elements cached per token per layer (keys plus values): `2 × kv_heads × head_dim`, or
    /// the compressed latent width for multi-head latent attention.
    pub kv_width: u32,
    /// Longest context the model supports, tokens.
    pub max_context: u32,
    /// False for a stand-in built from a bare parameter count.
    pub known: bool,
    /// Model card or paper the numbers come from.
    pub source: &'static str,
}

impl LlmSpec {
    /// A dense stand-in for "a `params_b`-billion-parameter model", shaped like the Llama
    /// family at that size (grouped-query attention with 8 KV heads of 128 dimensions, layer
    /// count interpolated from Llama 3 8B / 70B / 405B), with an 8k context.
    pub fn generic(params_b: f64) -> LlmSpec {
        let params_b = params_b.max(0.1);
        // Llama 3: 8B → 32 layers, 70B → 80, 405B → 126; layers ≈ 16 × params^(1/3), clamped.
        let layers = (16.0 * params_b.cbrt()).round().clamp(12.0, 160.0) as u32;
        LlmSpec {
            id: "generic",
            name: "generic dense model",
            params_b,
            active_params_b: params_b,
            layers,
            kv_width: 2 * 8 * 128,
            max_context: 8192,
            known: false,
            source: "stand-in shaped like Llama 3 (arXiv:2407.21783, table 3)",
        }
    }

    /// Bytes of KV cache per token at `bytes_per_element` (2 for FP16/BF16, 1 for FP8).
    pub fn kv_bytes_per_token(&self, bytes_per_element: f64) -> f64 {
        f64::from(self.layers) * f64::from(self.kv_width) * bytes_per_element
    }
}

const LLAMA3: &str = "https://arxiv.org/abs/2407.21783 (The Llama 3 Herd of Models, table 3)";
const LLAMA2: &str = "https://arxiv.org/abs/2307.09288 (Llama 2, table 1) and the HF config.json";
const MISTRAL: &str = "https://huggingface.co/mistralai/Mistral-7B-v0.1/blob/main/config.json";
const MIXTRAL: &str = "https://arxiv.org/abs/2401.04088 (Mixtral of Experts, table 1)";
const QWEN25: &str = "https://arxiv.org/abs/2412.15115 (Qwen2.5 Technical Report, table 1)";
const GEMMA2: &str = "https://arxiv.org/abs/2408.00118 (Gemma 2, table 1)";
const DEEPSEEK_V3: &str = "https://arxiv.org/abs/2412.19437 (DeepSeek-V3, §2.1 and §4.2)";
const PHI3: &str = "https://arxiv.org/abs/2404.14219 (Phi-3, §2)";
const QWEN3: &str = "https://arxiv.org/abs/2505.09388 (Qwen3 Technical Report, tables 1 and 2)";

/// `(spec, aliases)`; aliases are written as users do and normalised at lookup.
#[allow(clippy::too_many_arguments)]
const fn m(
    id: &'static str,
    name: &'static str,
    params_b: f64,
    active_params_b: f64,
    layers: u32,
    kv_width: u32,
    max_context: u32,
    source: &'static str,
) -> LlmSpec {
    LlmSpec {
        id,
        name,
        params_b,
        active_params_b,
        layers,
        kv_width,
        max_context,
        known: true,
        source,
    }
}

/// Grouped-query attention width: K and V, `kv_heads` heads of `head_dim`.
const fn gqa(kv_heads: u32, head_dim: u32) -> u32 {
    2 * kv_heads * head_dim
}

static MODELS: &[(LlmSpec, &[&str])] = &[
    (
        m(
            "llama-3-8b",
            "Llama 3 8B",
            8.03,
            8.03,
            32,
            gqa(8, 128),
            8192,
            LLAMA3,
        ),
        &[
            "llama 3 8b",
            "llama3 8b",
            "meta-llama-3-8b",
            "llama-3-8b-instruct",
        ],
    ),
    (
        m(
            "llama-3-70b",
            "Llama 3 70B",
            70.6,
            70.6,
            80,
            gqa(8, 128),
            8192,
            LLAMA3,
        ),
        &[
            "llama 3 70b",
            "llama3 70b",
            "meta-llama-3-70b",
            "llama-3-70b-instruct",
        ],
    ),
    (
        m(
            "llama-3.1-8b",
            "Llama 3.1 8B",
            8.03,
            8.03,
            32,
            gqa(8, 128),
            131_072,
            LLAMA3,
        ),
        &[
            "llama 3.1 8b",
            "llama3.1 8b",
            "meta-llama-3.1-8b",
            "llama-3.1-8b-instruct",
        ],
    ),
    (
        m(
            "llama-3.1-70b",
            "Llama 3.1 70B",
            70.6,
            70.6,
            80,
            gqa(8, 128),
            131_072,
            LLAMA3,
        ),
        &[
            "llama 3.1 70b",
            "llama3.1 70b",
            "meta-llama-3.1-70b",
            "llama-3.1-70b-instruct",
            "llama 3.3 70b",
            "llama-3.3-70b",
            "llama3.3 70b",
            "llama-3.3-70b-instruct",
        ],
    ),
    (
        m(
            "llama-3.1-405b",
            "Llama 3.1 405B",
            405.0,
            405.0,
            126,
            gqa(8, 128),
            131_072,
            LLAMA3,
        ),
        &[
            "llama 3.1 405b",
            "llama3.1 405b",
            "llama 3 405b",
            "llama-3-405b",
            "meta-llama-3.1-405b",
        ],
    ),
    (
        m(
            "llama-2-7b",
            "Llama 2 7B",
            6.74,
            6.74,
            32,
            gqa(32, 128),
            4096,
            LLAMA2,
        ),
        &["llama 2 7b", "llama2 7b", "llama-2-7b-chat"],
    ),
    (
        m(
            "llama-2-13b",
            "Llama 2 13B",
            13.0,
            13.0,
            40,
            gqa(40, 128),
            4096,
            LLAMA2,
        ),
        &["llama 2 13b", "llama2 13b", "llama-2-13b-chat"],
    ),
    (
        m(
            "llama-2-70b",
            "Llama 2 70B",
            69.0,
            69.0,
            80,
            gqa(8, 128),
            4096,
            LLAMA2,
        ),
        &["llama 2 70b", "llama2 70b", "llama-2-70b-chat"],
    ),
    (
        m(
            "mistral-7b",
            "Mistral 7B",
            7.24,
            7.24,
            32,
            gqa(8, 128),
            32_768,
            MISTRAL,
        ),
        &["mistral 7b", "mistral-7b-instruct", "mistral"],
    ),
    (
        m(
            "mixtral-8x7b",
            "Mixtral 8x7B",
            46.7,
            12.9,
            32,
            gqa(8, 128),
            32_768,
            MIXTRAL,
        ),
        &["mixtral 8x7b", "mixtral", "mixtral-8x7b-instruct"],
    ),
    (
        m(
            "qwen2.5-7b",
            "Qwen2.5 7B",
            7.6,
            7.6,
            28,
            gqa(4, 128),
            131_072,
            QWEN25,
        ),
        &[
            "qwen 2.5 7b",
            "qwen2.5 7b",
            "qwen-2.5-7b",
            "qwen2.5-7b-instruct",
        ],
    ),
    (
        m(
            "qwen2.5-14b",
            "Qwen2.5 14B",
            14.7,
            14.7,
            48,
            gqa(8, 128),
            131_072,
            QWEN25,
        ),
        &[
            "qwen 2.5 14b",
            "qwen2.5 14b",
            "qwen-2.5-14b",
            "qwen2.5-14b-instruct",
        ],
    ),
    (
        m(
            "qwen2.5-32b",
            "Qwen2.5 32B",
            32.5,
            32.5,
            64,
            gqa(8, 128),
            131_072,
            QWEN25,
        ),
        &[
            "qwen 2.5 32b",
            "qwen2.5 32b",
            "qwen-2.5-32b",
            "qwen2.5-32b-instruct",
        ],
    ),
    (
        m(
            "qwen2.5-72b",
            "Qwen2.5 72B",
            72.7,
            72.7,
            80,
            gqa(8, 128),
            131_072,
            QWEN25,
        ),
        &[
            "qwen 2.5 72b",
            "qwen2.5 72b",
            "qwen-2.5-72b",
            "qwen2.5-72b-instruct",
        ],
    ),
    (
        m(
            "gemma-2-9b",
            "Gemma 2 9B",
            9.24,
            9.24,
            42,
            gqa(8, 256),
            8192,
            GEMMA2,
        ),
        &["gemma 2 9b", "gemma2 9b", "gemma-2-9b-it"],
    ),
    (
        m(
            "gemma-2-27b",
            "Gemma 2 27B",
            27.2,
            27.2,
            46,
            gqa(16, 128),
            8192,
            GEMMA2,
        ),
        &["gemma 2 27b", "gemma2 27b", "gemma-2-27b-it"],
    ),
    // Qwen3 mixture-of-experts models: 128 experts, 8 routed per token.
    (
        m(
            "qwen3-30b-a3b",
            "Qwen3 30B-A3B",
            30.5,
            3.3,
            48,
            gqa(4, 128),
            131_072,
            QWEN3,
        ),
        &["qwen 3 30b", "qwen3 30b", "qwen3-30b-a3b-instruct"],
    ),
    (
        m(
            "qwen3-235b-a22b",
            "Qwen3 235B-A22B",
            235.0,
            22.0,
            94,
            gqa(4, 128),
            131_072,
            QWEN3,
        ),
        &["qwen 3 235b", "qwen3 235b", "qwen3-235b-a22b-instruct"],
    ),
    // Multi-head latent attention caches a 512-wide latent plus 64 RoPE dims per layer.
    (
        m(
            "deepseek-v3",
            "DeepSeek-V3",
            671.0,
            37.0,
            61,
            512 + 64,
            131_072,
            DEEPSEEK_V3,
        ),
        &[
            "deepseek v3",
            "deepseek-v3",
            "deepseek r1",
            "deepseek-r1",
            "deepseekv3",
            "deepseek",
        ],
    ),
    (
        m(
            "phi-3-mini",
            "Phi-3 mini",
            3.8,
            3.8,
            32,
            gqa(32, 96),
            4096,
            PHI3,
        ),
        &[
            "phi 3 mini",
            "phi-3-mini",
            "phi3 mini",
            "phi-3-mini-4k-instruct",
        ],
    ),
];

/// Lower-case and drop every non-alphanumeric character.
fn normalize(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn index() -> &'static HashMap<String, &'static LlmSpec> {
    static INDEX: OnceLock<HashMap<String, &'static LlmSpec>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut map = HashMap::new();
        for (spec, aliases) in MODELS {
            map.insert(normalize(spec.id), spec);
            map.insert(normalize(spec.name), spec);
            for alias in *aliases {
                map.insert(normalize(alias), spec);
            }
        }
        map
    })
}

/// Every known model, in table order.
pub fn all() -> impl Iterator<Item = &'static LlmSpec> {
    MODELS.iter().map(|(spec, _)| spec)
}

/// The model `name` names, exactly (after normalisation), or `None`.
pub fn resolve(name: &str) -> Option<&'static LlmSpec> {
    index().get(&normalize(name)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_resolve_to_one_model() {
        for name in [
            "Llama 3 70B",
            "llama-3-70b",
            "LLaMA3-70B",
            "meta-llama-3-70b",
        ] {
            assert_eq!(resolve(name).map(|m| m.id), Some("llama-3-70b"), "{name}");
        }
        assert_eq!(resolve("llama 3.1 8b").map(|m| m.id), Some("llama-3.1-8b"));
        assert_eq!(resolve("llama 3 8b").map(|m| m.id), Some("llama-3-8b"));
    }

    #[test]
    fn near_names_do_not_resolve() {
        for name in ["llama", "llama 3", "70b", "llama 3 7b", "gpt-4"] {
            assert_eq!(resolve(name), None, "{name}");
        }
    }

    #[test]
    fn aliases_are_unambiguous() {
        let mut seen: HashMap<String, &str> = HashMap::new();
        for (spec, aliases) in MODELS {
            for alias in aliases.iter().copied().chain([spec.id, spec.name]) {
                if let Some(prev) = seen.insert(normalize(alias), spec.id) {
                    assert_eq!(prev, spec.id, "alias {alias} names two models");
                }
            }
        }
    }

    #[test]
    fn llama_3_70b_kv_cache_is_320_kib_per_token_at_bf16() {
        // 80 layers × 2 × 8 heads × 128 dims × 2 bytes = 327,680 bytes.
        let spec = resolve("llama-3-70b").unwrap();
        assert_eq!(spec.kv_bytes_per_token(2.0), 327_680.0);
    }

    #[test]
    fn generic_model_is_labelled_and_scaled() {
        let g = LlmSpec::generic(70.0);
        assert!(!g.known);
        assert_eq!(g.params_b, 70.0);
        assert!((60..=100).contains(&g.layers), "{}", g.layers);
        assert!(LlmSpec::generic(7.0).layers < g.layers);
    }
}
