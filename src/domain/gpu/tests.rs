//! Unit tests for the GPU registry: confusable names, near misses, table sanity, lookups.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::aliases::{ALIASES, REFINEMENTS};
use super::{
    lookup, matches_family, normalize, registry, resolve, FormFactor, GpuHints, Resolution,
};

/// Resolves without hints and returns the model id, or "?" when unknown.
fn model(raw: &str) -> &'static str {
    model_with(raw, GpuHints::default())
}

fn model_with(raw: &str, hints: GpuHints<'_>) -> &'static str {
    resolve(raw, hints).spec().map_or("?", |spec| spec.model)
}

fn instance(instance_type: &str) -> GpuHints<'_> {
    GpuHints {
        instance_type: Some(instance_type),
        memory_mib: None,
    }
}

fn memory(memory_mib: u64) -> GpuHints<'static> {
    GpuHints {
        instance_type: None,
        memory_mib: Some(memory_mib),
    }
}

#[test]
fn a10_a10g_and_a100_stay_apart() {
    assert_eq!(model("A10"), "A10");
    assert_eq!(model("NVIDIA A10G"), "A10G");
    assert_eq!(model("A100"), "A100-40GB");
    assert_eq!(model("A100-80GB"), "A100-80GB");
}

#[test]
fn l4_l40_and_l40s_stay_apart() {
    assert_eq!(model("L4"), "L4");
    assert_eq!(model("NVIDIA L40"), "L40");
    assert_eq!(model("L40S"), "L40S");
}

#[test]
fn h100_variants_by_name() {
    assert_eq!(model("H100"), "H100");
    assert_eq!(model("H100 PCIE"), "H100-PCIE");
    assert_eq!(model("H100 SXM"), "H100-SXM");
    assert_eq!(model("NVIDIA H100 80GB HBM3"), "H100-SXM");
    assert_eq!(model("H100 NVL"), "H100-NVL");
    assert!(!lookup("H100").is_some_and(|spec| spec.variant_known));
}

#[test]
fn h100_variants_by_hints() {
    assert_eq!(model_with("H100", instance("gpu_8x_h100_sxm5")), "H100-SXM");
    assert_eq!(
        model_with("H100", instance("H100_PCIE_80GB::1")),
        "H100-PCIE"
    );
    assert_eq!(
        model_with("H100", instance("lambdalabs_H100-sxm5x2")),
        "H100-SXM"
    );
    assert_eq!(
        model_with("H100", instance("1x-H100_NVL-32-65536")),
        "H100-NVL"
    );
    assert_eq!(model_with("H100", memory(95830)), "H100-NVL");
    assert_eq!(model_with("H100", memory(81559)), "H100");
    // An explicit name wins over a contradicting hint.
    assert_eq!(
        model_with("H100 PCIe", instance("gpu_8x_h100_sxm5")),
        "H100-PCIE"
    );
    // "sxm" must be a whole token, not a substring.
    assert_eq!(model_with("H100", instance("nosxmhere")), "H100");
}

#[test]
fn a100_40_and_80_gb_stay_apart() {
    assert_eq!(model("A100-80GB-SXM"), "A100-80GB-SXM");
    assert_eq!(model("NVIDIA A100-SXM4-80GB"), "A100-80GB-SXM");
    assert_eq!(model("NVIDIA A100 80GB PCIe"), "A100-80GB-PCIE");
    assert_eq!(model_with("A100", memory(40960)), "A100-40GB");
    assert_eq!(model_with("A100", memory(81920)), "A100-80GB");
    assert_eq!(
        model_with("A100", instance("gpu_8x_a100_sxm4")),
        "A100-40GB-SXM"
    );
    assert_eq!(
        model_with("A100", instance("gpu_8x_a100_80gb_sxm4")),
        "A100-80GB-SXM"
    );
    assert_eq!(
        model_with("V100", instance("paperspace_V100-32GBx2")),
        "V100-32GB"
    );
    let both = GpuHints {
        instance_type: Some("1x-A100_PCIE-32-65536"),
        memory_mib: Some(81920),
    };
    assert_eq!(model_with("A100", both), "A100-80GB-PCIE");
    assert_eq!(model_with("A100 SXM4", memory(40960)), "A100-40GB-SXM");
    assert_eq!(model_with("A100 SXM4", memory(81920)), "A100-80GB-SXM");
    // Shadeform writes GB where MiB is expected: below 1024 the hint is ignored.
    assert_eq!(model_with("A100", memory(80)), "A100-40GB");
}

#[test]
fn v100_memory_and_form_factor() {
    assert_eq!(model("V100"), "V100-16GB");
    assert_eq!(model("V100-32GB"), "V100-32GB");
    assert_eq!(model_with("Tesla V100", memory(32768)), "V100-32GB");
    assert_eq!(model("Tesla V100-SXM2-32GB"), "V100-32GB-SXM2");
    assert_eq!(model("V100 FHHL"), "V100-FHHL");
}

#[test]
fn the_four_rtx_6000s_stay_apart() {
    assert_eq!(model("RTX6000"), "QUADRO-RTX6000");
    assert_eq!(model("Q RTX 6000"), "QUADRO-RTX6000");
    assert_eq!(model("Quadro RTX 6000"), "QUADRO-RTX6000");
    assert_eq!(model("RTX 6000 Ada"), "RTX6000-ADA");
    assert_eq!(model("NVIDIA RTX 6000 Ada Generation"), "RTX6000-ADA");
    assert_eq!(model("RTX A6000"), "RTXA6000");
    assert_eq!(model("A6000"), "RTXA6000");
    assert_eq!(model("RTX PRO 6000"), "RTXPRO6000");
    assert_eq!(model("RTXPRO6000S"), "RTXPRO6000-SE");
    assert_eq!(
        model("NVIDIA RTX PRO 6000 Blackwell Workstation Edition"),
        "RTXPRO6000-WS"
    );
    // Dropping "Quadro" would turn the Turing card into an unrelated name.
    assert_eq!(model("Quadro RTX 5000"), "QUADRO-RTX5000");
    assert_eq!(model("RTX 5000"), "?");
}

#[test]
fn geforce_suffixes_stay_apart() {
    assert_eq!(model("RTX 4070"), "RTX4070");
    assert_eq!(model("RTX 4070S"), "RTX4070-SUPER");
    assert_eq!(model("RTX 4070 Ti"), "RTX4070TI");
    assert_eq!(model("RTX 4070S Ti"), "RTX4070TI-SUPER");
    assert_eq!(model("NVIDIA GeForce RTX 4080 SUPER"), "RTX4080-SUPER");
    assert_eq!(
        model_with("RTX4060", instance("1x-RTX_4060_Ti-32-65536")),
        "RTX4060TI-8GB"
    );
    let ti_16 = GpuHints {
        instance_type: Some("1x-RTX_4060_Ti-32-65536"),
        memory_mib: Some(16380),
    };
    assert_eq!(model_with("RTX4060", ti_16), "RTX4060TI-16GB");
    assert_eq!(
        model_with("RTX3060", instance("2x-RTX_3060_Ti-32-65536")),
        "RTX3060TI"
    );
    assert_eq!(model("RTX 3060 laptop"), "RTX3060-LAPTOP");
}

#[test]
fn near_misses_are_unknown() {
    for raw in [
        "H10", "A1000", "L4X", "", "   ", "RTX", "GPU", "NVIDIA", "H1000", "A10GX", "L40SS",
        "RTX409", "4090",
    ] {
        assert_eq!(
            resolve(raw, GpuHints::default()),
            Resolution::Unknown(raw.trim().to_owned()),
            "{raw:?}"
        );
    }
    assert_eq!(
        resolve("  H10 ", GpuHints::default()),
        Resolution::Unknown("H10".to_owned())
    );
}

#[test]
fn hints_never_rescue_an_unknown_name() {
    let hints = GpuHints {
        instance_type: Some("gpu_8x_h100_sxm5"),
        memory_mib: Some(81920),
    };
    assert_eq!(model_with("H10", hints), "?");
}

#[test]
fn model_ids_are_unique_and_uppercase() {
    let mut seen = HashSet::new();
    for spec in registry() {
        assert!(seen.insert(spec.model), "duplicate model {}", spec.model);
        assert_eq!(
            spec.model,
            spec.model.to_ascii_uppercase(),
            "model ids are uppercase"
        );
        assert!(
            !normalize(spec.model).is_empty(),
            "{} normalises to nothing",
            spec.model
        );
    }
}

/// Normalised alias to every model that claims it (model ids count as aliases).
fn alias_owners() -> BTreeMap<String, BTreeSet<&'static str>> {
    let mut owners: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for spec in registry() {
        owners
            .entry(normalize(spec.model))
            .or_default()
            .insert(spec.model);
    }
    for (model, names) in ALIASES {
        for name in *names {
            owners.entry(normalize(name)).or_default().insert(model);
        }
    }
    owners
}

#[test]
fn every_alias_names_one_existing_model() {
    let mut keys = HashSet::new();
    for (model, names) in ALIASES {
        assert!(
            lookup(model).is_some_and(|spec| spec.model == *model),
            "alias row for missing model {model}"
        );
        assert!(keys.insert(*model), "two alias rows for {model}");
        assert!(!names.is_empty(), "empty alias row for {model}");
    }
    for (alias, owners) in alias_owners() {
        assert!(
            !alias.is_empty(),
            "an alias of {owners:?} normalises to nothing"
        );
        assert_eq!(owners.len(), 1, "alias {alias} is claimed by {owners:?}");
    }
}

#[test]
fn every_alias_resolves_to_its_owner() {
    for (owner, names) in ALIASES {
        for name in *names {
            assert_eq!(model(name), *owner, "alias {name:?}");
        }
    }
}

#[test]
fn families_are_not_other_concrete_models() {
    for spec in registry() {
        for family in spec.families {
            assert_ne!(
                *family, spec.model,
                "{} lists itself as a family",
                spec.model
            );
            if let Some(other) = lookup(family) {
                assert!(
                    !other.variant_known,
                    "{}: family {family} is the concrete model {}",
                    spec.model, other.model
                );
            }
        }
    }
    let l40s = lookup("L40S").expect("L40S");
    assert!(!matches_family(l40s, "L40"));
    assert!(!matches_family(l40s, "L4"));
}

#[test]
fn generic_entries_have_no_form_factor() {
    for spec in registry() {
        assert_eq!(
            spec.variant_known,
            spec.form_factor != FormFactor::Unspecified,
            "{}",
            spec.model
        );
    }
}

#[test]
fn numbers_are_positive_and_sourced() {
    for spec in registry() {
        let m = spec.model;
        assert!(
            spec.vram_gb > 0 && spec.memory_bandwidth_gbs > 0 && spec.tdp_watts > 0,
            "{m}"
        );
        assert!(
            spec.bf16_tflops > 0.0 && spec.bf16_tflops.is_finite(),
            "{m}"
        );
        assert!(
            spec.fp8_tflops.is_none_or(|fp8| fp8 > spec.bf16_tflops),
            "{m}: FP8 must beat BF16"
        );
        assert!(
            !spec.source.trim().is_empty() && !spec.architecture.is_empty(),
            "{m}"
        );
    }
}

#[test]
fn fp8_only_where_the_architecture_has_it() {
    const FP8_ARCHITECTURES: &[&str] =
        &["Hopper", "Ada Lovelace", "Blackwell", "CDNA 3", "Gaudi 2"];
    for spec in registry() {
        let has_fp8 = FP8_ARCHITECTURES.contains(&spec.architecture);
        assert_eq!(
            spec.fp8_tflops.is_some(),
            has_fp8,
            "{} ({})",
            spec.model,
            spec.architecture
        );
    }
}

#[test]
fn generic_entries_are_the_conservative_variant() {
    for generic in registry().iter().filter(|spec| !spec.variant_known) {
        let variants = registry()
            .iter()
            .filter(|spec| spec.variant_known && matches_family(spec, generic.model));
        for variant in variants {
            let who = format!("{} vs {}", generic.model, variant.model);
            assert!(
                generic.memory_bandwidth_gbs <= variant.memory_bandwidth_gbs,
                "{who}"
            );
            assert!(generic.bf16_tflops <= variant.bf16_tflops, "{who}");
            assert!(generic.vram_gb <= variant.vram_gb, "{who}");
        }
    }
}

#[test]
fn refinements_stay_within_one_chip_family_and_terminate() {
    for rule in REFINEMENTS {
        let (Some(from), Some(to)) = (lookup(rule.from), lookup(rule.to)) else {
            panic!("rule {} -> {} names a missing model", rule.from, rule.to);
        };
        assert_eq!(from.model, rule.from, "rule ids are exact model ids");
        assert_eq!(to.model, rule.to, "rule ids are exact model ids");
        assert_eq!(
            (from.vendor, from.architecture),
            (to.vendor, to.architecture),
            "{} -> {}",
            rule.from,
            rule.to
        );
    }
    // Acyclic: from every model, following any rule chain ends within the table length.
    let edges: Vec<(&str, &str)> = REFINEMENTS
        .iter()
        .map(|rule| (rule.from, rule.to))
        .collect();
    for spec in registry() {
        let mut frontier = vec![spec.model];
        for _ in 0..=edges.len() {
            frontier = edges
                .iter()
                .filter(|(from, _)| frontier.contains(from))
                .map(|(_, to)| *to)
                .collect();
        }
        assert!(
            frontier.is_empty(),
            "refinement cycle through {}",
            spec.model
        );
    }
}

#[test]
fn lookup_is_exact_and_case_insensitive() {
    assert_eq!(lookup("h100-sxm").map(|spec| spec.model), Some("H100-SXM"));
    assert_eq!(
        lookup(" rtx6000-ada ").map(|spec| spec.model),
        Some("RTX6000-ADA")
    );
    assert!(lookup("A100").is_none(), "A100 is a family, not a model id");
    assert!(
        lookup("H100 SXM").is_none(),
        "lookup takes ids, not aliases"
    );
    assert!(lookup("H10").is_none());
}

#[test]
fn matches_family_is_case_insensitive_and_exact() {
    let h100_sxm = lookup("H100-SXM").expect("H100-SXM");
    assert!(matches_family(h100_sxm, "h100"));
    assert!(matches_family(h100_sxm, "H100-SXM"));
    assert!(!matches_family(h100_sxm, "H100-PCIE"));
    assert!(!matches_family(h100_sxm, "H10"));
    let a100 = lookup("A100-80GB-SXM").expect("A100-80GB-SXM");
    assert!(
        matches_family(a100, "a100")
            && matches_family(a100, "A100-80GB")
            && matches_family(a100, "A100-SXM")
    );
    assert!(!matches_family(a100, "A100-40GB") && !matches_family(a100, "A10"));
}
