//! Every GPU name in the real provider data under `shared/data/catalogs` resolves, with the
//! hints from its own row, to a model whose memory agrees with the row.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{resolve, GpuHints, GpuSpec, Resolution};

const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/catalogs");

/// Names left unknown on purpose, with the reason.
const DELIBERATELY_UNKNOWN: &[(&str, &str)] = &[
    (
        "tpu-v2",
        "Google TPU: not a GPU, sold as slices of a pod, no per-device spec here",
    ),
    ("tpu-v3", "Google TPU: not a GPU"),
    ("tpu-v4", "Google TPU: not a GPU"),
    ("tpu-v5litepod", "Google TPU: not a GPU"),
    ("tpu-v5p", "Google TPU: not a GPU"),
    ("tpu-v6e", "Google TPU: not a GPU"),
    (
        "Gaudi HL-205",
        "first-generation Gaudi (AWS dl1): Habana publishes no dense BF16 figure",
    ),
    (
        "unknown",
        "RunPod's placeholder id and display name for a GPU it cannot name",
    ),
];

/// (name, GiB per GPU) pairs whose memory disagrees with the model, with the reason it is
/// accepted. Both make the registry understate memory, never overstate it.
const MEMORY_EXCEPTIONS: &[(&str, u64, &str)] = &[
    (
        "RTX 3060 laptop",
        12,
        "some Vast hosts report 12 GiB; NVIDIA's laptop part has 6 GB",
    ),
    (
        "RTX4090",
        48,
        "one Vast host in Hong Kong: an aftermarket 48 GB conversion, no NVIDIA spec",
    ),
];

/// One GPU name as it appears in the data, with the hints from the same row.
struct Sighting {
    name: String,
    source: String,
    instance_type: Option<String>,
    memory_mib: Option<u64>,
}

impl Sighting {
    fn hints(&self) -> GpuHints<'_> {
        GpuHints {
            instance_type: self.instance_type.as_deref(),
            memory_mib: self.memory_mib,
        }
    }
}

/// Splits one CSV line, honouring double quotes and `""` escapes.
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            _ => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// The values of every `'<key>': <value>` / `"<key>": <value>` in a Python-repr or JSON
/// text, quotes stripped; keys compared case-insensitively.
fn values_of(text: &str, key: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut values = Vec::new();
    for quote in ['\'', '"'] {
        let needle = format!("{quote}{}{quote}", key.to_ascii_lowercase());
        for (at, _) in lower.match_indices(&needle) {
            let rest = text[at + needle.len()..]
                .trim_start()
                .trim_start_matches(':')
                .trim_start();
            let value = match rest.chars().next() {
                Some(q @ ('\'' | '"')) => rest[1..].split(q).next().unwrap_or_default(),
                _ => rest.split([',', '}']).next().unwrap_or_default().trim(),
            };
            values.push(value.to_owned());
        }
    }
    values
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn csv_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            csv_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "csv") {
            found.push(path);
        }
    }
}

/// SkyPilot catalog rows: `AcceleratorName` and every name inside `GpuInfo`.
fn skypilot_sightings(path: &Path, out: &mut Vec<Sighting>) {
    let text = read(path);
    let mut lines = text.lines();
    let header = split_csv_line(lines.next().unwrap_or_default());
    let column = |name: &str| header.iter().position(|h| h == name);
    let (accelerator, gpu_info) = (column("AcceleratorName"), column("GpuInfo"));
    let (instance, count) = (column("InstanceType"), column("AcceleratorCount"));
    // The Vast fetcher writes the memory of all the row's GPUs into SizeInMiB.
    let memory_is_total = path.components().any(|c| c.as_os_str() == "vast");
    let source = path
        .strip_prefix(DATA_DIR)
        .unwrap_or(path)
        .display()
        .to_string();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let row = split_csv_line(line);
        let field = |i: Option<usize>| {
            i.and_then(|i| row.get(i))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let info = field(gpu_info).unwrap_or_default();
        let mut names: Vec<String> = field(accelerator).into_iter().map(str::to_owned).collect();
        names.extend(values_of(info, "Name"));
        if !info.contains('{') && !info.eq_ignore_ascii_case("null") && !info.is_empty() {
            names.push(info.to_owned());
        }
        let gpus = field(count)
            .and_then(|c| c.parse::<f64>().ok())
            .filter(|&c| c >= 1.0)
            .unwrap_or(1.0);
        let memory = values_of(info, "SizeInMiB")
            .first()
            .and_then(|m| m.parse::<f64>().ok());
        let per_gpu = if memory_is_total { gpus } else { 1.0 };
        let memory_mib = memory.map(|m| (m / per_gpu) as u64);
        for name in names {
            let instance_type = field(instance).map(str::to_owned);
            out.push(Sighting {
                name,
                source: source.clone(),
                instance_type,
                memory_mib,
            });
        }
    }
}

/// Vast `search offers --raw`: `gpu_name`, with `gpu_ram` (MiB per GPU) as the hint.
fn vast_sightings(out: &mut Vec<Sighting>) {
    let offers: serde_json::Value =
        serde_json::from_str(&read(&Path::new(DATA_DIR).join("vast-python/search.json"))).unwrap();
    for offer in offers.as_array().unwrap() {
        let name = offer["gpu_name"].as_str().unwrap().to_owned();
        let memory_mib = offer["gpu_ram"].as_f64().map(|m| m as u64);
        out.push(Sighting {
            name,
            source: "vast-python/search.json".into(),
            instance_type: None,
            memory_mib,
        });
    }
}

/// RunPod `gpuTypes`: `id` and `displayName`, with `memoryInGb` converted to MiB.
fn runpod_sightings(out: &mut Vec<Sighting>) {
    let value: serde_json::Value = serde_json::from_str(&read(
        &Path::new(DATA_DIR).join("runpod-graphql/gpu_prices.json"),
    ))
    .unwrap();
    let types = value.pointer("/data/gpuTypes").unwrap_or(&value);
    for gpu_type in types.as_array().unwrap() {
        let memory_mib = gpu_type["memoryInGb"].as_u64().map(|gb| gb * 1024);
        for key in ["id", "displayName"] {
            let name = gpu_type[key].as_str().unwrap().to_owned();
            let source = format!("runpod-graphql/gpu_prices.json {key}");
            out.push(Sighting {
                name,
                source,
                instance_type: None,
                memory_mib,
            });
        }
    }
}

fn all_sightings() -> Vec<Sighting> {
    let mut files = Vec::new();
    csv_files(Path::new(DATA_DIR), &mut files);
    let mut sightings = Vec::new();
    for file in &files {
        skypilot_sightings(file, &mut sightings);
    }
    assert!(
        files.len() >= 12,
        "expected the 12 SkyPilot catalogs under {DATA_DIR}, found {}",
        files.len()
    );
    vast_sightings(&mut sightings);
    runpod_sightings(&mut sightings);
    sightings
}

/// A complaint when a reliable memory hint disagrees with the model's memory: under 90% means
/// the registry overstates memory (a smaller variant was missed), over 115% means a bigger
/// variant was missed. Vendors' "GB" are GiB for GDDR parts and close to it for HBM.
fn memory_mismatch(spec: &GpuSpec, sighting: &Sighting) -> Option<String> {
    let gib = sighting.memory_mib.filter(|&mib| mib >= 1024)? as f64 / 1024.0;
    let vram = f64::from(spec.vram_gb);
    let excused = MEMORY_EXCEPTIONS
        .iter()
        .any(|(name, at, _)| *name == sighting.name && gib.round() as u64 == *at);
    let plausible = gib >= 0.9 * vram && gib <= 1.15 * vram;
    (!plausible && !excused).then(|| {
        format!(
            "{:?} ({}) -> {}: {gib:.1} GiB in the data vs {} GB",
            sighting.name, sighting.source, spec.model, spec.vram_gb
        )
    })
}

fn check(sighting: &Sighting) -> Option<String> {
    let expected_unknown = DELIBERATELY_UNKNOWN
        .iter()
        .any(|(name, _)| *name == sighting.name);
    match (resolve(&sighting.name, sighting.hints()), expected_unknown) {
        (Resolution::Known(spec), false) => memory_mismatch(spec, sighting),
        (Resolution::Unknown(_), true) => None,
        (Resolution::Known(spec), true) => Some(format!(
            "{:?} was meant to stay unknown, got {}",
            sighting.name, spec.model
        )),
        (Resolution::Unknown(_), false) => Some(format!(
            "{:?} ({}) is unknown",
            sighting.name, sighting.source
        )),
    }
}

#[test]
fn every_gpu_name_in_the_catalogs_resolves() {
    let sightings = all_sightings();
    assert!(
        sightings.len() > 3000,
        "only {} GPU names found under {DATA_DIR}",
        sightings.len()
    );
    let failures: BTreeSet<String> = sightings.iter().filter_map(check).collect();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.into_iter().collect::<Vec<_>>().join("\n")
    );
    let names: BTreeSet<&str> = sightings.iter().map(|s| s.name.as_str()).collect();
    let unknown = names
        .iter()
        .filter(|name| DELIBERATELY_UNKNOWN.iter().any(|(n, _)| n == *name))
        .count();
    eprintln!(
        "{} sightings, {} distinct raw names: {} resolve, {unknown} deliberately unknown",
        sightings.len(),
        names.len(),
        names.len() - unknown
    );
}

#[test]
fn deliberately_unknown_names_occur_in_the_data() {
    let sightings = all_sightings();
    let names = DELIBERATELY_UNKNOWN.iter().map(|(name, why)| (name, why));
    for (name, reason) in names.chain(MEMORY_EXCEPTIONS.iter().map(|(name, _, why)| (name, why))) {
        assert!(
            sightings.iter().any(|s| s.name == *name),
            "{name:?} ({reason}) no longer occurs: drop it from the list"
        );
    }
}

#[test]
fn csv_splitter_handles_quotes() {
    let row = split_csv_line(r#"a,"{'Gpus': [{'Name': 'H100'}], 'x': 1}",,"say ""hi""""#);
    assert_eq!(
        row,
        [
            "a",
            "{'Gpus': [{'Name': 'H100'}], 'x': 1}",
            "",
            "say \"hi\""
        ]
    );
    assert_eq!(
        values_of(
            r#"{"Gpus": [{"name": "A100", "MemoryInfo": {"SizeInMiB": 40960}}]}"#,
            "Name"
        ),
        ["A100"]
    );
    assert_eq!(
        values_of("{'MemoryInfo': {'SizeInMiB': 81920}}", "SizeInMiB"),
        ["81920"]
    );
}
