//! The registry table: one row per canonical GPU model, numbers from public datasheets.
//!
//! Units: `mem(GB, GB/s)`, `bf16`/`fp8` in dense TFLOPS (half of any "with sparsity" figure;
//! see the parent module for the accumulate convention), `watts` per GPU. A generic row
//! (form factor `Unspecified`) carries the numbers of its most conservative variant. Where a
//! datasheet gives only FP32 TFLOPS and a clock, the tensor rate is derived with the
//! per-SM rates of the architecture whitepaper named in the row's source.

use super::FormFactor::{self, Nvl, Oam, Pcie, Superchip, Sxm, Unspecified};
use super::{GpuSpec, Vendor};

/// Vendor and architecture name shared by many rows.
#[derive(Clone, Copy)]
struct Arch {
    vendor: Vendor,
    name: &'static str,
}

const fn nvidia(name: &'static str) -> Arch {
    Arch {
        vendor: Vendor::Nvidia,
        name,
    }
}

const KEPLER: Arch = nvidia("Kepler");
const MAXWELL: Arch = nvidia("Maxwell");
const PASCAL: Arch = nvidia("Pascal");
const VOLTA: Arch = nvidia("Volta");
const TURING: Arch = nvidia("Turing");
const AMPERE: Arch = nvidia("Ampere");
const ADA: Arch = nvidia("Ada Lovelace");
const HOPPER: Arch = nvidia("Hopper");
const BLACKWELL: Arch = nvidia("Blackwell");
const VEGA: Arch = Arch {
    vendor: Vendor::Amd,
    name: "GCN 5 (Vega)",
};
const RDNA: Arch = Arch {
    vendor: Vendor::Amd,
    name: "RDNA",
};
const CDNA3: Arch = Arch {
    vendor: Vendor::Amd,
    name: "CDNA 3",
};
const GAUDI_2: Arch = Arch {
    vendor: Vendor::Intel,
    name: "Gaudi 2",
};

const H100: &str = "https://www.nvidia.com/en-us/data-center/h100/ (H100 datasheet)";
const H200: &str = "https://www.nvidia.com/en-us/data-center/h200/ (H200 datasheet)";
const HGX: &str =
    "https://www.nvidia.com/en-us/data-center/hgx/ (HGX B200/B300 spec table, per GPU)";
const GH200: &str =
    "https://www.nvidia.com/en-us/data-center/grace-hopper-superchip/ (GH200 datasheet)";
const A100: &str = "https://www.nvidia.com/en-us/data-center/a100/ (A100 datasheet)";
const A100X: &str = "NVIDIA A100X converged accelerator product brief";
const A800: &str = "NVIDIA A800 40GB PCIe datasheet (generic: lowest A800 variant)";
const A10: &str = "https://www.nvidia.com/en-us/data-center/products/a10-gpu/ (A10 datasheet)";
const A10G: &str = "AWS EC2 G5 documentation (24 GB, 600 GB/s; NVIDIA publishes no A10G sheet); \
                    tensor rate from baseten.co/blog/nvidia-a10-vs-a10g-for-ml-model-inference";
const A16: &str =
    "https://www.nvidia.com/en-us/data-center/products/a16-gpu/ (A16 datasheet, one of 4 GPUs)";
const A30: &str = "https://www.nvidia.com/en-us/data-center/products/a30-gpu/ (A30 datasheet)";
const A40: &str = "https://www.nvidia.com/en-us/data-center/a40/ (A40 datasheet)";
const L4: &str = "https://www.nvidia.com/en-us/data-center/l4/ (L4 datasheet)";
const L40: &str = "https://www.nvidia.com/en-us/data-center/l40/ (L40 datasheet)";
const L40S: &str = "https://www.nvidia.com/en-us/data-center/l40s/ (L40S datasheet)";
const V100: &str = "https://www.nvidia.com/en-us/data-center/v100/ (V100 datasheet)";
const T4: &str = "https://www.nvidia.com/en-us/data-center/tesla-t4/ (T4 datasheet)";
const TESLA_OLD: &str =
    "NVIDIA Tesla K80 / M60 / P4 / P100 datasheets (per GPU; dual-GPU boards halved)";
const TITAN: &str = "NVIDIA TITAN V / TITAN Xp product specifications (nvidia.com)";
const QUADRO: &str = "NVIDIA Quadro RTX 6000 / RTX 5000 / P4000 / M4000 / K2200 datasheets";
const RTX_AMPERE_PRO: &str =
    "NVIDIA RTX A2000/A4000/A4500/A5000/A6000 datasheets (tensor figure halved)";
const RTX_ADA_PRO: &str =
    "NVIDIA RTX 2000/4000/5000/6000 Ada Generation datasheets (FP8 sparse figure / 2, BF16 / 4)";
const RTX_PRO_BW: &str = "NVIDIA RTX PRO 6000 Blackwell datasheets (Workstation / Server Edition)";
const GEFORCE_BW: &str =
    "NVIDIA RTX Blackwell GPU architecture whitepaper, appendix (FP32-accumulate)";
const GEFORCE_ADA: &str = "NVIDIA Ada GPU architecture whitepaper, appendix A (FP32-accumulate); \
                           cards not in it: same per-SM rate at the product page's boost clock";
const GEFORCE_AMPERE: &str =
    "NVIDIA Ampere GA102 GPU architecture whitepaper, appendix A (FP32-accumulate); \
                              cards not in it: same per-SM rate at the product page's boost clock";
const GEFORCE_TURING: &str =
    "NVIDIA Turing GPU architecture whitepaper, appendix A (FP32-accumulate); \
                              GTX 16 series: FP16 vector rate from the product specifications";
const GEFORCE_PASCAL: &str = "NVIDIA GeForce GTX 10 series product specifications (FP32 rate)";
const MI300X: &str =
    "https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html (MI300X datasheet)";
const MI25: &str = "AMD Radeon Instinct MI25 datasheet";
const V520: &str = "AWS EC2 G4ad documentation; AMD Radeon Pro V520 (Navi 12) specifications";
const GAUDI2: &str = "Habana Gaudi2 white paper / Intel Gaudi 2 product brief";

/// A row with the identity filled in; the numbers follow through the builder methods.
const fn gpu(
    model: &'static str,
    arch: Arch,
    form_factor: FormFactor,
    families: &'static [&'static str],
) -> GpuSpec {
    GpuSpec {
        model,
        families,
        vendor: arch.vendor,
        architecture: arch.name,
        vram_gb: 0,
        memory_bandwidth_gbs: 0,
        bf16_tflops: 0.0,
        fp8_tflops: None,
        tdp_watts: 0,
        form_factor,
        variant_known: !matches!(form_factor, Unspecified),
        source: "",
    }
}

impl GpuSpec {
    const fn mem(self, vram_gb: u32, memory_bandwidth_gbs: u32) -> Self {
        Self {
            vram_gb,
            memory_bandwidth_gbs,
            ..self
        }
    }

    const fn bf16(self, bf16_tflops: f64) -> Self {
        Self {
            bf16_tflops,
            ..self
        }
    }

    const fn fp8(self, tflops: f64) -> Self {
        Self {
            fp8_tflops: Some(tflops),
            ..self
        }
    }

    const fn watts(self, tdp_watts: u32) -> Self {
        Self { tdp_watts, ..self }
    }

    const fn src(self, source: &'static str) -> Self {
        Self { source, ..self }
    }
}

/// The table. Rows of one family sit together, generic entry first.
#[rustfmt::skip]
pub(super) static REGISTRY: &[GpuSpec] = &[
    // Hopper. Generic H100 = PCIe numbers (the slowest 80 GB variant).
    gpu("H100", HOPPER, Unspecified, &[]).mem(80, 2000).bf16(756.0).fp8(1513.0).watts(350).src(H100),
    gpu("H100-SXM", HOPPER, Sxm, &["H100"]).mem(80, 3350).bf16(989.0).fp8(1979.0).watts(700).src(H100),
    gpu("H100-PCIE", HOPPER, Pcie, &["H100"]).mem(80, 2000).bf16(756.0).fp8(1513.0).watts(350).src(H100),
    gpu("H100-NVL", HOPPER, Nvl, &["H100"]).mem(94, 3900).bf16(835.0).fp8(1671.0).watts(400).src(H100),
    // Generic H200 = NVL numbers (lower clocks and power than SXM).
    gpu("H200", HOPPER, Unspecified, &[]).mem(141, 4800).bf16(835.0).fp8(1671.0).watts(600).src(H200),
    gpu("H200-SXM", HOPPER, Sxm, &["H200"]).mem(141, 4800).bf16(989.0).fp8(1979.0).watts(700).src(H200),
    gpu("H200-NVL", HOPPER, Nvl, &["H200"]).mem(141, 4800).bf16(835.0).fp8(1671.0).watts(600).src(H200),
    // GH200: 96 GB HBM3 version; TDP is the module's configurable maximum (CPU included).
    gpu("GH200", HOPPER, Superchip, &[]).mem(96, 4000).bf16(989.0).fp8(1979.0).watts(1000).src(GH200),
    // Blackwell. B200: 180 GB usable as clouds sell it (192 GB of HBM3e on the package).
    gpu("B200", BLACKWELL, Sxm, &[]).mem(180, 8000).bf16(2250.0).fp8(4500.0).watts(1000).src(HGX),
    gpu("B300", BLACKWELL, Sxm, &[]).mem(288, 8000).bf16(2250.0).fp8(4500.0).watts(1100).src(HGX),
    // Ampere data centre. Generic A100 (40 GB) = PCIe numbers; generic 80 GB likewise.
    gpu("A100-40GB", AMPERE, Unspecified, &["A100"]).mem(40, 1555).bf16(312.0).watts(250).src(A100),
    gpu("A100-40GB-SXM", AMPERE, Sxm, &["A100", "A100-40GB", "A100-SXM"]).mem(40, 1555).bf16(312.0).watts(400).src(A100),
    gpu("A100-40GB-PCIE", AMPERE, Pcie, &["A100", "A100-40GB", "A100-PCIE"]).mem(40, 1555).bf16(312.0).watts(250).src(A100),
    gpu("A100-80GB", AMPERE, Unspecified, &["A100"]).mem(80, 1935).bf16(312.0).watts(300).src(A100),
    gpu("A100-80GB-SXM", AMPERE, Sxm, &["A100", "A100-80GB", "A100-SXM"]).mem(80, 2039).bf16(312.0).watts(400).src(A100),
    gpu("A100-80GB-PCIE", AMPERE, Pcie, &["A100", "A100-80GB", "A100-PCIE"]).mem(80, 1935).bf16(312.0).watts(300).src(A100),
    gpu("A100X", AMPERE, Pcie, &["A100", "A100-80GB"]).mem(80, 1935).bf16(312.0).watts(300).src(A100X),
    gpu("A800", AMPERE, Unspecified, &[]).mem(40, 1555).bf16(312.0).watts(250).src(A800),
    gpu("A10", AMPERE, Pcie, &[]).mem(24, 600).bf16(125.0).watts(150).src(A10),
    gpu("A10G", AMPERE, Pcie, &[]).mem(24, 600).bf16(70.0).watts(300).src(A10G),
    gpu("A16", AMPERE, Pcie, &[]).mem(16, 200).bf16(17.9).watts(62).src(A16),
    gpu("A30", AMPERE, Pcie, &[]).mem(24, 933).bf16(165.0).watts(165).src(A30),
    gpu("A40", AMPERE, Pcie, &[]).mem(48, 696).bf16(149.7).watts(300).src(A40),
    // Ada data centre.
    gpu("L4", ADA, Pcie, &[]).mem(24, 300).bf16(121.0).fp8(242.5).watts(72).src(L4),
    gpu("L40", ADA, Pcie, &[]).mem(48, 864).bf16(181.0).fp8(362.0).watts(300).src(L40),
    gpu("L40S", ADA, Pcie, &[]).mem(48, 864).bf16(362.0).fp8(733.0).watts(350).src(L40S),
    // Volta (FP16 tensor). Generic V100 = PCIe numbers. The low-power FHHL card is named as
    // such by every provider that has it, so it stays out of the generic's variants.
    gpu("V100-16GB", VOLTA, Unspecified, &["V100"]).mem(16, 900).bf16(112.0).watts(250).src(V100),
    gpu("V100-16GB-SXM2", VOLTA, Sxm, &["V100", "V100-16GB", "V100-SXM2"]).mem(16, 900).bf16(125.0).watts(300).src(V100),
    gpu("V100-16GB-PCIE", VOLTA, Pcie, &["V100", "V100-16GB", "V100-PCIE"]).mem(16, 900).bf16(112.0).watts(250).src(V100),
    gpu("V100-FHHL", VOLTA, Pcie, &["V100"]).mem(16, 828).bf16(105.0).watts(150).src(V100),
    gpu("V100-32GB", VOLTA, Unspecified, &["V100"]).mem(32, 900).bf16(112.0).watts(250).src(V100),
    gpu("V100-32GB-SXM2", VOLTA, Sxm, &["V100", "V100-32GB", "V100-SXM2"]).mem(32, 900).bf16(125.0).watts(300).src(V100),
    gpu("V100-32GB-PCIE", VOLTA, Pcie, &["V100", "V100-32GB", "V100-PCIE"]).mem(32, 900).bf16(112.0).watts(250).src(V100),
    gpu("TITAN-V", VOLTA, Pcie, &[]).mem(12, 653).bf16(110.0).watts(250).src(TITAN),
    // Older Tesla: T4 tensor FP16; P100 FP16 vector; P4, M60, K80 FP32 (per GPU).
    gpu("T4", TURING, Pcie, &[]).mem(16, 320).bf16(65.0).watts(70).src(T4),
    gpu("P100", PASCAL, Pcie, &[]).mem(16, 732).bf16(18.7).watts(250).src(TESLA_OLD),
    gpu("P4", PASCAL, Pcie, &[]).mem(8, 192).bf16(5.5).watts(75).src(TESLA_OLD),
    gpu("M60", MAXWELL, Pcie, &[]).mem(8, 160).bf16(4.8).watts(150).src(TESLA_OLD),
    gpu("K80", KEPLER, Pcie, &[]).mem(12, 240).bf16(4.4).watts(150).src(TESLA_OLD),
    // Workstation: Quadro (Turing tensor FP16; Pascal, Maxwell FP32).
    gpu("QUADRO-RTX6000", TURING, Pcie, &[]).mem(24, 672).bf16(130.5).watts(260).src(QUADRO),
    gpu("QUADRO-RTX5000", TURING, Pcie, &[]).mem(16, 448).bf16(89.2).watts(230).src(QUADRO),
    gpu("QUADRO-P4000", PASCAL, Pcie, &[]).mem(8, 243).bf16(5.3).watts(105).src(QUADRO),
    gpu("QUADRO-M4000", MAXWELL, Pcie, &[]).mem(8, 192).bf16(2.6).watts(120).src(QUADRO),
    gpu("QUADRO-K2200", MAXWELL, Pcie, &[]).mem(4, 80).bf16(1.4).watts(68).src(QUADRO),
    // Workstation: RTX Ampere, Ada, Blackwell (full-rate FP32 accumulate).
    gpu("RTXA2000-6GB", AMPERE, Pcie, &["RTXA2000"]).mem(6, 288).bf16(32.0).watts(70).src(RTX_AMPERE_PRO),
    gpu("RTXA2000-12GB", AMPERE, Pcie, &["RTXA2000"]).mem(12, 288).bf16(32.0).watts(70).src(RTX_AMPERE_PRO),
    gpu("RTXA4000", AMPERE, Pcie, &[]).mem(16, 448).bf16(76.7).watts(140).src(RTX_AMPERE_PRO),
    gpu("RTXA4500", AMPERE, Pcie, &[]).mem(20, 640).bf16(94.6).watts(200).src(RTX_AMPERE_PRO),
    gpu("RTXA5000", AMPERE, Pcie, &[]).mem(24, 768).bf16(111.1).watts(230).src(RTX_AMPERE_PRO),
    gpu("RTXA6000", AMPERE, Pcie, &[]).mem(48, 768).bf16(154.8).watts(300).src(RTX_AMPERE_PRO),
    gpu("RTX2000-ADA", ADA, Pcie, &[]).mem(16, 224).bf16(48.0).fp8(96.0).watts(70).src(RTX_ADA_PRO),
    gpu("RTX4000-ADA", ADA, Pcie, &[]).mem(20, 360).bf16(81.9).fp8(163.8).watts(130).src(RTX_ADA_PRO),
    gpu("RTX5000-ADA", ADA, Pcie, &[]).mem(32, 576).bf16(261.1).fp8(522.2).watts(250).src(RTX_ADA_PRO),
    gpu("RTX6000-ADA", ADA, Pcie, &[]).mem(48, 960).bf16(364.2).fp8(728.5).watts(300).src(RTX_ADA_PRO),
    // Generic RTX PRO 6000 = Server Edition numbers (lower bandwidth and clocks).
    gpu("RTXPRO6000", BLACKWELL, Unspecified, &[]).mem(96, 1597).bf16(480.0).fp8(960.0).watts(600).src(RTX_PRO_BW),
    gpu("RTXPRO6000-WS", BLACKWELL, Pcie, &["RTXPRO6000"]).mem(96, 1792).bf16(503.8).fp8(1007.6).watts(600).src(RTX_PRO_BW),
    gpu("RTXPRO6000-SE", BLACKWELL, Pcie, &["RTXPRO6000"]).mem(96, 1597).bf16(480.0).fp8(960.0).watts(600).src(RTX_PRO_BW),
    // GeForce Blackwell and Ada (half-rate FP32 accumulate).
    gpu("RTX5090", BLACKWELL, Pcie, &[]).mem(32, 1792).bf16(209.5).fp8(419.0).watts(575).src(GEFORCE_BW),
    gpu("RTX5080", BLACKWELL, Pcie, &[]).mem(16, 960).bf16(112.6).fp8(225.1).watts(360).src(GEFORCE_BW),
    gpu("RTX5060", BLACKWELL, Pcie, &[]).mem(8, 448).bf16(38.4).fp8(76.7).watts(145).src(GEFORCE_BW),
    gpu("RTX4090", ADA, Pcie, &[]).mem(24, 1008).bf16(165.2).fp8(330.3).watts(450).src(GEFORCE_ADA),
    gpu("RTX4080-SUPER", ADA, Pcie, &[]).mem(16, 736).bf16(104.4).fp8(208.9).watts(320).src(GEFORCE_ADA),
    gpu("RTX4080", ADA, Pcie, &[]).mem(16, 717).bf16(97.5).fp8(194.9).watts(320).src(GEFORCE_ADA),
    gpu("RTX4070TI-SUPER", ADA, Pcie, &[]).mem(16, 672).bf16(88.2).fp8(176.4).watts(285).src(GEFORCE_ADA),
    gpu("RTX4070TI", ADA, Pcie, &[]).mem(12, 504).bf16(80.2).fp8(160.4).watts(285).src(GEFORCE_ADA),
    gpu("RTX4070-SUPER", ADA, Pcie, &[]).mem(12, 504).bf16(71.0).fp8(141.9).watts(220).src(GEFORCE_ADA),
    gpu("RTX4070", ADA, Pcie, &[]).mem(12, 504).bf16(58.3).fp8(116.6).watts(200).src(GEFORCE_ADA),
    gpu("RTX4060TI-16GB", ADA, Pcie, &["RTX4060TI"]).mem(16, 288).bf16(44.1).fp8(88.3).watts(165).src(GEFORCE_ADA),
    gpu("RTX4060TI-8GB", ADA, Pcie, &["RTX4060TI"]).mem(8, 288).bf16(44.1).fp8(88.3).watts(160).src(GEFORCE_ADA),
    gpu("RTX4060", ADA, Pcie, &[]).mem(8, 272).bf16(30.2).fp8(60.5).watts(115).src(GEFORCE_ADA),
    // GeForce Ampere (half-rate FP32 accumulate, no FP8).
    gpu("RTX3090TI", AMPERE, Pcie, &[]).mem(24, 1008).bf16(80.0).watts(450).src(GEFORCE_AMPERE),
    gpu("RTX3090", AMPERE, Pcie, &[]).mem(24, 936).bf16(71.0).watts(350).src(GEFORCE_AMPERE),
    gpu("RTX3080TI", AMPERE, Pcie, &[]).mem(12, 912).bf16(68.2).watts(350).src(GEFORCE_AMPERE),
    gpu("RTX3080-12GB", AMPERE, Pcie, &["RTX3080"]).mem(12, 912).bf16(61.3).watts(350).src(GEFORCE_AMPERE),
    gpu("RTX3080-10GB", AMPERE, Pcie, &["RTX3080"]).mem(10, 760).bf16(59.5).watts(320).src(GEFORCE_AMPERE),
    gpu("RTX3070TI", AMPERE, Pcie, &[]).mem(8, 608).bf16(43.5).watts(290).src(GEFORCE_AMPERE),
    gpu("RTX3070", AMPERE, Pcie, &[]).mem(8, 448).bf16(40.6).watts(220).src(GEFORCE_AMPERE),
    gpu("RTX3060TI", AMPERE, Pcie, &[]).mem(8, 448).bf16(32.4).watts(200).src(GEFORCE_AMPERE),
    gpu("RTX3060", AMPERE, Pcie, &[]).mem(12, 360).bf16(25.5).watts(170).src(GEFORCE_AMPERE),
    // Laptop part: slowest boost clock (1283 MHz) and highest TGP of NVIDIA's ranges.
    gpu("RTX3060-LAPTOP", AMPERE, Pcie, &[]).mem(6, 336).bf16(19.7).watts(115).src(GEFORCE_AMPERE),
    // GeForce Turing (FP16 tensor, half-rate FP32 accumulate) and GTX 16 (FP16 vector).
    gpu("RTX2080TI", TURING, Pcie, &[]).mem(11, 616).bf16(53.8).watts(250).src(GEFORCE_TURING),
    gpu("RTX2080-SUPER", TURING, Pcie, &[]).mem(8, 496).bf16(44.6).watts(250).src(GEFORCE_TURING),
    gpu("RTX2070-SUPER", TURING, Pcie, &[]).mem(8, 448).bf16(36.3).watts(215).src(GEFORCE_TURING),
    gpu("RTX2070", TURING, Pcie, &[]).mem(8, 448).bf16(29.9).watts(175).src(GEFORCE_TURING),
    gpu("RTX2060-SUPER", TURING, Pcie, &[]).mem(8, 448).bf16(28.7).watts(175).src(GEFORCE_TURING),
    gpu("RTX2060-12GB", TURING, Pcie, &["RTX2060"]).mem(12, 336).bf16(28.7).watts(185).src(GEFORCE_TURING),
    gpu("RTX2060-6GB", TURING, Pcie, &["RTX2060"]).mem(6, 336).bf16(25.8).watts(160).src(GEFORCE_TURING),
    gpu("GTX1660TI", TURING, Pcie, &[]).mem(6, 288).bf16(10.9).watts(120).src(GEFORCE_TURING),
    gpu("GTX1660-SUPER", TURING, Pcie, &[]).mem(6, 336).bf16(10.1).watts(125).src(GEFORCE_TURING),
    gpu("GTX1660", TURING, Pcie, &[]).mem(6, 192).bf16(10.1).watts(120).src(GEFORCE_TURING),
    gpu("GTX1650", TURING, Pcie, &[]).mem(4, 128).bf16(6.0).watts(75).src(GEFORCE_TURING),
    // GeForce Pascal (FP32).
    gpu("TITAN-XP", PASCAL, Pcie, &[]).mem(12, 548).bf16(12.1).watts(250).src(TITAN),
    gpu("GTX1080TI", PASCAL, Pcie, &[]).mem(11, 484).bf16(11.3).watts(250).src(GEFORCE_PASCAL),
    gpu("GTX1080", PASCAL, Pcie, &[]).mem(8, 320).bf16(8.9).watts(180).src(GEFORCE_PASCAL),
    gpu("GTX1070TI", PASCAL, Pcie, &[]).mem(8, 256).bf16(8.2).watts(180).src(GEFORCE_PASCAL),
    gpu("GTX1070", PASCAL, Pcie, &[]).mem(8, 256).bf16(6.5).watts(150).src(GEFORCE_PASCAL),
    gpu("GTX1060-6GB", PASCAL, Pcie, &["GTX1060"]).mem(6, 192).bf16(4.4).watts(120).src(GEFORCE_PASCAL),
    gpu("GTX1060-3GB", PASCAL, Pcie, &["GTX1060"]).mem(3, 192).bf16(3.9).watts(120).src(GEFORCE_PASCAL),
    gpu("GTX1050TI", PASCAL, Pcie, &[]).mem(4, 112).bf16(2.1).watts(75).src(GEFORCE_PASCAL),
    // AMD and Intel.
    gpu("MI300X", CDNA3, Oam, &[]).mem(192, 5300).bf16(1307.4).fp8(2614.9).watts(750).src(MI300X),
    gpu("MI25", VEGA, Pcie, &[]).mem(16, 484).bf16(24.6).watts(300).src(MI25),
    gpu("RADEON-PRO-V520", RDNA, Pcie, &[]).mem(8, 512).bf16(14.7).watts(225).src(V520),
    gpu("GAUDI2", GAUDI_2, Oam, &[]).mem(96, 2460).bf16(432.0).fp8(865.0).watts(600).src(GAUDI2),
];
