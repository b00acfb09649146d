//! Outbound requests to configurable URLs (provider API overrides, SkyPilot catalog URLs,
//! the LLM endpoint, a Vault server) may only reach public addresses over https: no
//! loopback, private, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT,
//! multicast or unspecified addresses, in any spelling (`http://2130706433/`,
//! `http://0x7f.1/` and `[::ffff:127.0.0.1]` are all loopback). IP literals are checked when
//! the URL is configured; host names are checked at every connection by the resolver (so
//! DNS rebinding cannot slip through), and redirects by [`redirect_allowed`].
//!
//! `GPUBROKER_ALLOW_PRIVATE_URLS` lifts the rule for local development and tests (fake
//! servers on loopback); production refuses it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

/// Which addresses outbound connections may reach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reach {
    /// Public addresses over https only (the default).
    #[default]
    PublicOnly,
    /// Anything, plain http included (development and tests).
    Any,
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || first == 0x2001 && ip.segments()[1] == 0x0db8
        || first == 0x0064 && ip.segments()[1] == 0xff9b
        || ip.to_ipv4().is_some_and(|v4| !is_public_v4(v4)))
}

/// Checks a configured URL: https (unless [`Reach::Any`]) and, for an IP literal host, a
/// public address. Host names are checked when resolved.
pub fn check_url(url: &Url, reach: Reach) -> Result<(), String> {
    if reach == Reach::Any {
        return match url.scheme() {
            "http" | "https" => Ok(()),
            other => Err(format!("{other}:// is not http(s)")),
        };
    }
    if url.scheme() != "https" {
        return Err(format!(
            "{}:// is refused: outbound URLs must use https (GPUBROKER_ALLOW_PRIVATE_URLS allows http in development)",
            url.scheme()
        ));
    }
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(Host::Domain(name)) if name.eq_ignore_ascii_case("localhost") => {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }
        Some(Host::Domain(_)) => return Ok(()),
        None => return Err("the URL has no host".into()),
    };
    if is_public(ip) {
        Ok(())
    } else {
        Err(format!(
            "{ip} is a loopback, private or link-local address; outbound requests only go to public addresses (GPUBROKER_ALLOW_PRIVATE_URLS allows them in development)"
        ))
    }
}

/// A redirect target is allowed when it passes [`check_url`] too.
pub fn redirect_allowed(url: &Url, reach: Reach) -> bool {
    check_url(url, reach).is_ok()
}

/// Resolves host names and keeps only public addresses; a name with none is an error.
#[derive(Debug)]
struct PublicResolver;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> = format!(
                    "{host} resolves only to loopback, private or link-local addresses; refused"
                )
                .into();
                return Err(refused);
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// Applies `reach` to a client: with [`Reach::PublicOnly`], host names resolve to public
/// addresses only.
pub fn guard(builder: reqwest::ClientBuilder, reach: Reach) -> reqwest::ClientBuilder {
    match reach {
        Reach::PublicOnly => builder.dns_resolver(Arc::new(PublicResolver)),
        Reach::Any => builder,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn check(url: &str) -> Result<(), String> {
        check_url(&Url::parse(url).unwrap(), Reach::PublicOnly)
    }

    #[test]
    fn private_addresses_in_every_spelling_are_refused() {
        for url in [
            "https://127.0.0.1/",
            "https://localhost:8200/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://017700000001/",
            "https://127.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::]/",
        ] {
            assert!(check(url).is_err(), "{url} passed");
        }
    }

    #[test]
    fn public_https_passes_and_plain_http_does_not() {
        assert!(check("https://api.vast.ai/api/v0/").is_ok());
        assert!(check("https://8.8.8.8/").is_ok());
        assert!(check("https://[2606:4700::1111]/").is_ok());
        assert!(check("http://api.vast.ai/").unwrap_err().contains("https"));
        assert!(check("ftp://example.com/").is_err());
    }

    #[test]
    fn the_development_switch_allows_loopback_and_http_only() {
        let any = |u: &str| check_url(&Url::parse(u).unwrap(), Reach::Any);
        assert!(any("http://127.0.0.1:8200/").is_ok());
        assert!(any("file:///etc/passwd").is_err());
        assert!(!redirect_allowed(
            &Url::parse("https://169.254.169.254/").unwrap(),
            Reach::PublicOnly
        ));
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused_at_connect() {
        let client = guard(reqwest::Client::builder(), Reach::PublicOnly)
            .build()
            .unwrap();
        let err = client.get("https://localhost:9/").send().await.unwrap_err();
        let chain = format!("{:?}", err);
        assert!(chain.contains("resolves only to"), "{chain}");
    }
}
