//! GPU registry: canonical GPU models with the specs the performance model needs, and the
//! resolver from every raw GPU name providers publish to one of those models.
//!
//! Resolution is exact. A raw name is normalised (uppercased, every non-alphanumeric
//! character dropped, leading vendor words such as "NVIDIA", "Tesla" or "GeForce" dropped) and
//! looked up in an explicit alias table. There is no prefix or substring matching anywhere, so
//! A10, A10G and A100 stay apart, as do L4, L40 and L40S. A name that is not in the table is
//! [`Resolution::Unknown`]: the caller keeps the offer, flags it and counts it.
//!
//! A generic name ("H100", "A100", "V100") resolves to a generic entry (`variant_known ==
//! false`, the conservative variant's numbers) unless [`GpuHints`] pick the variant: exact
//! instance-type tokens (`sxm5`, `pcie`, `nvl`, ...) or the per-GPU memory size.
//!
//! Throughput convention (`bf16_tflops`, `fp8_tflops`): dense, never "with sparsity", and
//! with FP32 accumulation, the only accumulation BF16 has. GeForce cards run FP32-accumulate
//! tensor maths at half the rate of the FP16-accumulate figure NVIDIA advertises, so a GeForce
//! row carries the whitepapers' "FP16 Tensor TFLOPS with FP32 Accumulate" (e.g. RTX 4090:
//! 165.2, not 330.3); FP8 rows follow the same rule. Volta and Turing have no BF16: their rows
//! carry the FP16 tensor rate. GPUs without tensor cores carry the FP16 vector rate where the
//! chip runs FP16 at least at FP32 speed (P100, Turing GTX 16, Vega), otherwise the FP32 rate
//! (Pascal GeForce and Quadro, Kepler, Maxwell), since that is what a framework will use.

mod aliases;
#[cfg(test)]
mod catalog_tests;
mod specs;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::OnceLock;

/// Who designs the chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// NVIDIA.
    Nvidia,
    /// AMD.
    Amd,
    /// Intel (including Habana Gaudi).
    Intel,
}

/// How the GPU attaches to the host, which decides clocks, power and interconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FormFactor {
    /// NVIDIA SXM module on an HGX/DGX board (NVLink switch fabric).
    Sxm,
    /// PCIe add-in card.
    Pcie,
    /// NVIDIA NVL: a PCIe card sold in NVLink-bridged pairs (H100 NVL, H200 NVL).
    Nvl,
    /// OCP accelerator module (AMD Instinct, Intel Gaudi).
    Oam,
    /// CPU and GPU on one module (GH200).
    Superchip,
    /// Not known: the generic entry of a model sold in several form factors.
    Unspecified,
}

/// One canonical GPU model.
#[derive(Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct GpuSpec {
    /// Canonical id, uppercase: "H100-SXM", "A100-80GB-SXM", "A100-80GB" (variant unspecified).
    pub model: &'static str,
    /// Coarser names this model also answers to, e.g. A100-80GB-SXM: "A100", "A100-80GB".
    pub families: &'static [&'static str],
    /// Chip designer.
    pub vendor: Vendor,
    /// Architecture name: "Hopper", "Ampere", "Ada Lovelace", "Blackwell", "CDNA 3", ...
    pub architecture: &'static str,
    /// Memory per GPU, GB as the vendor sells it.
    pub vram_gb: u32,
    /// Memory bandwidth per GPU, GB/s.
    pub memory_bandwidth_gbs: u32,
    /// Dense BF16 (FP16 where the chip has no BF16) TFLOPS; see the module docs.
    pub bf16_tflops: f64,
    /// Dense FP8 TFLOPS where the hardware has FP8.
    pub fp8_tflops: Option<f64>,
    /// Board power (TDP/TBP) per GPU, watts.
    pub tdp_watts: u32,
    /// How the GPU attaches to the host.
    pub form_factor: FormFactor,
    /// False for a generic entry ("H100", "A100-80GB") whose form factor is not known.
    pub variant_known: bool,
    /// The public datasheet or whitepaper the numbers come from.
    pub source: &'static str,
}

/// Extra context that disambiguates a generic name.
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuHints<'a> {
    /// The provider's instance or offer type, e.g. "gpu_8x_h100_sxm5".
    pub instance_type: Option<&'a str>,
    /// Memory of one GPU in MiB; values under 1024 are taken as unreliable and ignored.
    pub memory_mib: Option<u64>,
}

/// Outcome of [`resolve`].
#[derive(Clone, Debug, PartialEq)]
pub enum Resolution {
    /// The name names this model.
    Known(&'static GpuSpec),
    /// No alias matches; carries the raw name, trimmed.
    Unknown(String),
}

impl Resolution {
    /// The spec, when known.
    pub fn spec(&self) -> Option<&'static GpuSpec> {
        match self {
            Self::Known(spec) => Some(spec),
            Self::Unknown(_) => None,
        }
    }
}

/// Every canonical model, in table order.
pub fn registry() -> &'static [GpuSpec] {
    specs::REGISTRY
}

/// The model with this exact canonical id, case-insensitive; family names do not match.
pub fn lookup(model_or_family: &str) -> Option<&'static GpuSpec> {
    let key = model_or_family.trim().to_ascii_uppercase();
    index().by_model.get(&key).and_then(|&i| registry().get(i))
}

/// True when `name` is the model's id or one of its families, case-insensitive.
pub fn matches_family(spec: &GpuSpec, name: &str) -> bool {
    let name = name.trim();
    spec.model.eq_ignore_ascii_case(name)
        || spec.families.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// Resolves a raw provider GPU name, refined by `hints`, to a canonical model.
pub fn resolve(raw: &str, hints: GpuHints<'_>) -> Resolution {
    let trimmed = raw.trim();
    let start = index().by_alias.get(&normalize(trimmed));
    match start.and_then(|&i| registry().get(refine(i, hints))) {
        Some(spec) => Resolution::Known(spec),
        None => Resolution::Unknown(trimmed.to_owned()),
    }
}

/// Leading words that say who made the card, not which card it is.
const VENDOR_WORDS: &[&str] = &[
    "NVIDIA", "TESLA", "GEFORCE", "AMD", "INSTINCT", "INTEL", "HABANA",
];

/// Uppercases, drops leading vendor words and every non-alphanumeric character:
/// "NVIDIA GeForce RTX 4090" and "RTX4090" both become "RTX4090". "Quadro" is kept on
/// purpose: "Quadro RTX 5000" (Turing) must not collapse into "RTX 5000".
fn normalize(raw: &str) -> String {
    raw.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_uppercase)
        .skip_while(|word| VENDOR_WORDS.contains(&word.as_str()))
        .collect()
}

/// Normalised alias and uppercase model id to registry position, built once.
struct Index {
    by_alias: HashMap<String, usize>,
    by_model: HashMap<String, usize>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(Index::build)
}

impl Index {
    /// Collisions keep the first owner; the registry tests reject any collision.
    fn build() -> Self {
        let by_model: HashMap<String, usize> = registry()
            .iter()
            .enumerate()
            .map(|(i, spec)| (spec.model.to_ascii_uppercase(), i))
            .collect();
        let mut by_alias = HashMap::new();
        for (i, spec) in registry().iter().enumerate() {
            by_alias.entry(normalize(spec.model)).or_insert(i);
        }
        for (model, names) in aliases::ALIASES {
            let Some(&i) = by_model.get(&model.to_ascii_uppercase()) else {
                continue;
            };
            for name in *names {
                by_alias.entry(normalize(name)).or_insert(i);
            }
        }
        Self { by_alias, by_model }
    }
}

/// The hints in the form the refinement rules read.
struct HintView {
    tokens: Vec<String>,
    memory_mib: Option<u64>,
}

impl HintView {
    fn new(hints: GpuHints<'_>) -> Self {
        Self {
            tokens: hints.instance_type.map(instance_tokens).unwrap_or_default(),
            memory_mib: hints.memory_mib.filter(|&mib| mib >= 1024),
        }
    }
}

/// Lowercase alphanumeric words of an instance type; a word with a glued GPU count
/// (Shadeform's "sxm5x2") also yields its stem ("sxm5").
fn instance_tokens(instance_type: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for word in instance_type
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_ascii_lowercase();
        if let Some(stem) = strip_count_suffix(&word) {
            tokens.push(stem.to_owned());
        }
        tokens.push(word);
    }
    tokens
}

/// "sxm5x2" gives "sxm5"; "8x", "x2" and words without a trailing count give nothing.
fn strip_count_suffix(word: &str) -> Option<&str> {
    let (stem, count) = word.rsplit_once('x')?;
    let is_count = !count.is_empty() && count.bytes().all(|b| b.is_ascii_digit());
    (is_count && !stem.is_empty()).then_some(stem)
}

/// Follows the refinement rules from `start` until none applies. The walk is bounded by the
/// table length, so a cycle (which the tests reject) could not loop forever.
fn refine(start: usize, hints: GpuHints<'_>) -> usize {
    let view = HintView::new(hints);
    let mut current = start;
    for _ in 0..aliases::REFINEMENTS.len() {
        let Some(spec) = registry().get(current) else {
            break;
        };
        let next = aliases::REFINEMENTS
            .iter()
            .find(|rule| rule.from == spec.model && rule.when.holds(&view.tokens, view.memory_mib))
            .and_then(|rule| index().by_model.get(rule.to));
        match next {
            Some(&i) => current = i,
            None => break,
        }
    }
    current
}
