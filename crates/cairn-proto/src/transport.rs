//! Rules every client and the server share about reaching one another: where plain HTTP is
//! allowed.

/// Loopback: the one place plain HTTP may go, since nothing on the wire can read it.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_are_loopback() {
        for (url, loopback) in [
            ("http://127.0.0.1:1/", true),
            ("http://127.9.9.9/", true),
            ("http://[::1]:7/", true),
            ("http://localhost/", true),
            ("http://localhost.evil.example/", false),
            ("http://localhost@evil.example/", false),
            ("http://[::ffff:127.0.0.1]/", false),
            ("http://10.0.0.1/", false),
        ] {
            assert_eq!(
                is_loopback(&url::Url::parse(url).unwrap()),
                loopback,
                "{url}"
            );
        }
    }
}
