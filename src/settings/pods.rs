//! What pods deployed on real providers run: `GPUBROKER_POD_IMAGE`,
//! `GPUBROKER_POD_DISK_GB` and `GPUBROKER_LAMBDA_SSH_KEY`.

/// Checks `GPUBROKER_POD_IMAGE`, `GPUBROKER_POD_DISK_GB` and `GPUBROKER_LAMBDA_SSH_KEY`.
pub fn pod_deploy(
    problems: &mut Vec<String>,
    image: Option<String>,
    disk_gb: Option<u32>,
    lambda_ssh_key: Option<String>,
) -> crate::pods::providers::DeploySettings {
    let mut deploy = crate::pods::providers::DeploySettings::default();
    if let Some(image) = image {
        let image = image.trim();
        if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
            problems.push(format!(
                "GPUBROKER_POD_IMAGE must be an image name without spaces, not {image:?}"
            ));
        } else {
            deploy.image = image.to_owned();
        }
    }
    match disk_gb {
        Some(gb) if !(1..=2000).contains(&gb) => problems.push(format!(
            "GPUBROKER_POD_DISK_GB must be from 1 to 2000, not {gb}"
        )),
        Some(gb) => deploy.disk_gb = gb,
        None => {}
    }
    deploy.lambda_ssh_key = lambda_ssh_key
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty());
    deploy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::providers::{DeploySettings, DEFAULT_DISK_GB, DEFAULT_IMAGE};

    #[test]
    fn defaults_overrides_and_refusals() {
        let mut problems = Vec::new();
        let d = pod_deploy(&mut problems, None, None, Some("  ".into()));
        assert_eq!(d, DeploySettings::default());
        assert_eq!(
            (d.image.as_str(), d.disk_gb),
            (DEFAULT_IMAGE, DEFAULT_DISK_GB)
        );
        assert_eq!(d.lambda_ssh_key, None, "a blank key name is no key");
        let d = pod_deploy(
            &mut problems,
            Some(" me/img:2 ".into()),
            Some(100),
            Some("laptop".into()),
        );
        assert_eq!(
            (d.image.as_str(), d.disk_gb, d.lambda_ssh_key.as_deref()),
            ("me/img:2", 100, Some("laptop"))
        );
        assert!(problems.is_empty(), "{problems:?}");
        pod_deploy(&mut problems, Some("a b".into()), Some(0), None);
        pod_deploy(&mut problems, Some(String::new()), Some(2001), None);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("GPUBROKER_POD_IMAGE"));
        assert!(problems[1].contains("GPUBROKER_POD_DISK_GB"));
    }
}
