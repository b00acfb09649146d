//! Alias table (raw provider names per canonical model) and the hint rules that refine a
//! generic model into a variant.
//!
//! Aliases are written as providers spell them and normalised when the index is built, so
//! "NVIDIA A100-SXM4-80GB" and "A100 SXM4 80GB" are one entry. A model's own id is always an
//! alias and is not repeated here. Every alias belongs to exactly one model (tested).

/// Raw names per canonical model id.
pub(super) const ALIASES: &[(&str, &[&str])] = &[
    // Hopper and Blackwell data centre parts.
    (
        "H100-SXM",
        &[
            "H100 SXM5",
            "NVIDIA-H100-80GB-HBM3",
            "H100-MEGA",
            "H100-NVLINK",
        ],
    ),
    ("H100-PCIE", &["H100-PCIE-80GB"]),
    ("H100-NVL", &["H100 NVL 94GB"]),
    // Ampere data centre parts. SkyPilot's plain "A100" is the 40 GB model.
    ("A100-40GB", &["A100"]),
    (
        "A100-40GB-SXM",
        &["A100 SXM", "A100 SXM4", "A100-SXM4-40GB", "A100 SXM4 40GB"],
    ),
    (
        "A100-40GB-PCIE",
        &["A100 PCIe", "A100-PCIE-40GB", "A100 PCIe 40GB"],
    ),
    (
        "A100-80GB-SXM",
        &["A100-SXM4-80GB", "A100 SXM4 80GB", "A100-80GB-SXM4"],
    ),
    (
        "A100-80GB-PCIE",
        &["A100 80GB PCIe", "A100-PCIE-80GB", "A100 PCIe 80GB"],
    ),
    ("T4", &["T4g"]),
    // Volta. Plain "V100" is the 16 GB model.
    ("V100-16GB", &["V100"]),
    ("V100-16GB-SXM2", &["V100 SXM2", "V100-SXM2-16GB"]),
    ("V100-16GB-PCIE", &["V100 PCIe", "V100-PCIE-16GB"]),
    ("V100-FHHL", &["V100-FHHL-16GB"]),
    ("V100-32GB-SXM2", &["V100-SXM2-32GB", "V100 SXM2 32GB"]),
    ("V100-32GB-PCIE", &["V100-PCIE-32GB"]),
    // Workstation. "RTX6000" (SkyPilot: Lambda, Seeweb; 24 GB) is the Turing Quadro RTX 6000.
    ("QUADRO-RTX6000", &["RTX6000", "Q RTX 6000"]),
    ("QUADRO-RTX5000", &["Q RTX 5000"]),
    ("QUADRO-K2200", &["K2200"]),
    ("QUADRO-M4000", &["M4000"]),
    ("QUADRO-P4000", &["P4000"]),
    ("RTXA2000-6GB", &["RTX A2000", "A2000"]),
    ("RTXA4000", &["A4000"]),
    ("RTXA4500", &["A4500"]),
    ("RTXA5000", &["A5000"]),
    ("RTXA6000", &["A6000"]),
    ("RTX2000-ADA", &["RTX 2000 Ada Generation"]),
    ("RTX4000-ADA", &["RTX 4000 Ada Generation"]),
    ("RTX5000-ADA", &["RTX 5000 Ada Generation"]),
    ("RTX6000-ADA", &["RTX 6000 Ada Generation"]),
    (
        "RTXPRO6000",
        &["RTX PRO 6000 96GB", "RTX PRO 6000 Blackwell"],
    ),
    (
        "RTXPRO6000-WS",
        &[
            "RTXPRO6000-WK",
            "RTX PRO 6000 Blackwell Workstation Edition",
        ],
    ),
    (
        "RTXPRO6000-SE",
        &["RTXPRO6000S", "RTX PRO 6000 Blackwell Server Edition"],
    ),
    // GeForce. Vast writes SUPER as a trailing "S" ("RTX 4080S", "RTX 4070S Ti").
    ("RTX4080-SUPER", &["RTX 4080S"]),
    ("RTX4070TI-SUPER", &["RTX 4070S Ti", "RTX 4070 Ti S"]),
    ("RTX4070-SUPER", &["RTX 4070S"]),
    ("RTX4060TI-8GB", &["RTX 4060 Ti"]),
    ("RTX3080-10GB", &["RTX 3080"]),
    ("RTX2080-SUPER", &["RTX 2080S"]),
    ("RTX2070-SUPER", &["RTX 2070S"]),
    ("RTX2060-SUPER", &["RTX 2060S"]),
    ("RTX2060-6GB", &["RTX 2060"]),
    ("GTX1660-SUPER", &["GTX 1660 S"]),
    ("GTX1060-3GB", &["GTX 1060"]),
    // AMD and Intel.
    ("MI300X", &["MI300X OAM"]),
    ("MI25", &["Radeon MI25", "Radeon Instinct MI25"]),
    ("RADEON-PRO-V520", &["V520"]),
    ("GAUDI2", &["Gaudi 2", "HL-225"]),
];

/// Instance-type words that name an SXM module.
const SXM: &[&str] = &["sxm", "sxm2", "sxm4", "sxm5", "sxm6"];
/// Instance-type words that name a PCIe card.
const PCIE: &[&str] = &["pcie"];
/// Instance-type words that name an NVL card.
const NVL: &[&str] = &["nvl"];
/// Instance-type words that give the memory size of an A100 or V100.
const GB80: &[&str] = &["80gb", "80g"];
const GB32: &[&str] = &["32gb", "32g"];
/// Vast's SkyPilot types write "RTX_4060_Ti" while the accelerator name says "RTX4060".
const TI: &[&str] = &["ti"];

/// A condition on the hints.
pub(super) enum When {
    /// One instance-type token is exactly one of these words.
    Token(&'static [&'static str]),
    /// The reliable per-GPU memory hint is at least this many GiB.
    MinGib(u64),
}

impl When {
    /// Whether the condition holds for these instance tokens and memory hint.
    pub(super) fn holds(&self, tokens: &[String], memory_mib: Option<u64>) -> bool {
        match self {
            Self::Token(words) => tokens.iter().any(|t| words.contains(&t.as_str())),
            Self::MinGib(gib) => memory_mib.is_some_and(|mib| mib >= gib * 1024),
        }
    }
}

/// Moves a resolution from model `from` to model `to` when `when` holds.
pub(super) struct Refinement {
    pub(super) from: &'static str,
    pub(super) when: When,
    pub(super) to: &'static str,
}

const fn rule(from: &'static str, when: When, to: &'static str) -> Refinement {
    Refinement { from, when, to }
}

/// Applied repeatedly, first matching rule wins, until none applies. Only names that leave
/// the variant open are refined: "H100 PCIe" stays PCIe whatever the instance type says.
pub(super) const REFINEMENTS: &[Refinement] = &[
    rule("H100", When::Token(SXM), "H100-SXM"),
    // Fluidstack "H100_NVLINK_80GB": HGX boards; 80 GB rules out the 94 GB NVL card.
    rule("H100", When::Token(&["nvlink"]), "H100-SXM"),
    rule("H100", When::Token(PCIE), "H100-PCIE"),
    rule("H100", When::Token(NVL), "H100-NVL"),
    rule("H100", When::MinGib(90), "H100-NVL"),
    rule("H200", When::Token(SXM), "H200-SXM"),
    rule("H200", When::Token(NVL), "H200-NVL"),
    rule("A100-40GB", When::MinGib(70), "A100-80GB"),
    rule("A100-40GB", When::Token(GB80), "A100-80GB"),
    rule("A100-40GB", When::Token(SXM), "A100-40GB-SXM"),
    rule("A100-40GB", When::Token(PCIE), "A100-40GB-PCIE"),
    rule("A100-40GB-SXM", When::MinGib(70), "A100-80GB-SXM"),
    rule("A100-40GB-SXM", When::Token(GB80), "A100-80GB-SXM"),
    rule("A100-40GB-PCIE", When::MinGib(70), "A100-80GB-PCIE"),
    rule("A100-40GB-PCIE", When::Token(GB80), "A100-80GB-PCIE"),
    rule("A100-80GB", When::Token(SXM), "A100-80GB-SXM"),
    rule("A100-80GB", When::Token(PCIE), "A100-80GB-PCIE"),
    rule("V100-16GB", When::MinGib(28), "V100-32GB"),
    rule("V100-16GB", When::Token(GB32), "V100-32GB"),
    rule("V100-16GB", When::Token(SXM), "V100-16GB-SXM2"),
    rule("V100-16GB", When::Token(PCIE), "V100-16GB-PCIE"),
    rule("V100-16GB-SXM2", When::MinGib(28), "V100-32GB-SXM2"),
    rule("V100-16GB-SXM2", When::Token(GB32), "V100-32GB-SXM2"),
    rule("V100-16GB-PCIE", When::MinGib(28), "V100-32GB-PCIE"),
    rule("V100-16GB-PCIE", When::Token(GB32), "V100-32GB-PCIE"),
    rule("V100-32GB", When::Token(SXM), "V100-32GB-SXM2"),
    rule("V100-32GB", When::Token(PCIE), "V100-32GB-PCIE"),
    rule("RTXA2000-6GB", When::MinGib(10), "RTXA2000-12GB"),
    rule("RTX2060-6GB", When::MinGib(10), "RTX2060-12GB"),
    rule("RTX3080-10GB", When::MinGib(11), "RTX3080-12GB"),
    rule("GTX1060-3GB", When::MinGib(5), "GTX1060-6GB"),
    rule("RTX3060", When::Token(TI), "RTX3060TI"),
    rule("RTX4060", When::Token(TI), "RTX4060TI-8GB"),
    rule("RTX4060TI-8GB", When::MinGib(15), "RTX4060TI-16GB"),
    rule("RTX4070", When::Token(TI), "RTX4070TI"),
    rule("RTX4070", When::Token(&["4070s"]), "RTX4070-SUPER"),
    rule("RTX4070TI", When::MinGib(15), "RTX4070TI-SUPER"),
];
