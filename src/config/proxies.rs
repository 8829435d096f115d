//! `access.trusted_proxies`: the load balancers and reverse proxies whose `X-Forwarded-For` is
//! believed, parsed once when the settings are read, and the walk that finds the client behind
//! them.

use std::net::IpAddr;

use ipnet::IpNet;

/// The networks of the proxies in front of this service. Empty (the default): the TCP peer is
/// the client and any `X-Forwarded-For` is ignored, since anyone can send one.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    /// As configured, to show the settings back.
    entries: Vec<String>,
}

impl TryFrom<Vec<String>> for TrustedProxies {
    type Error = String;
    fn try_from(entries: Vec<String>) -> Result<Self, String> {
        let networks = entries
            .iter()
            .map(|entry| network(entry.trim()).ok_or_else(|| {
                format!("{entry:?} is neither an IP address nor a network like 10.0.0.0/8 or fd00::/8")
            }))
            .collect::<Result<_, _>>()?;
        Ok(Self { networks, entries })
    }
}

impl From<TrustedProxies> for Vec<String> {
    fn from(proxies: TrustedProxies) -> Self {
        proxies.entries
    }
}

/// `10.0.0.0/8`, or a single address as a network of one.
fn network(entry: &str) -> Option<IpNet> {
    entry
        .parse::<IpNet>()
        .ok()
        .or_else(|| entry.parse::<IpAddr>().ok().map(IpNet::from))
}

impl TrustedProxies {
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, given the request's `X-Forwarded-For` values in the order
    /// they arrived. Each trusted proxy appends the address it heard from, so the list is read
    /// from the right, past every trusted hop, to the first address no trusted proxy is: only
    /// what the entries to its left say is the client's to invent. An entry that is not an
    /// address ends the walk at the proxy that passed it on.
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|value| value.split(',')).collect();
        for hop in hops.iter().rev() {
            let Some(ip) = hop_address(hop.trim()) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// One entry of `X-Forwarded-For`: an address, perhaps with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`) as some proxies write it.
fn hop_address(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(bracketed) = hop.strip_prefix('[') {
        let (ip, _port) = bracketed.split_once(']')?;
        return ip.parse().ok().map(canonical);
    }
    let (ip, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>()
        .ok()
        .map(|ip| canonical(ip.into()))
}

/// An IPv4 client seen on a dual-stack socket arrives as `::ffff:a.b.c.d`; it is the same
/// client as `a.b.c.d`, and is written and matched that way.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::try_from(entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_and_single_addresses_are_accepted_and_anything_else_is_refused() {
        let trusted = proxies(&["10.0.0.0/8", "192.0.2.7", "fd00::/8", " ::1 "]);
        assert!(trusted.trusts(ip("10.200.3.4")));
        assert!(trusted.trusts(ip("192.0.2.7")));
        assert!(!trusted.trusts(ip("192.0.2.8")));
        assert!(trusted.trusts(ip("fd12::1")));
        assert!(trusted.trusts(ip("::1")));
        for bad in ["proxy.internal", "10.0.0.0/33", "", "10.0.0.1:80"] {
            let refused = TrustedProxies::try_from(vec![bad.to_owned()]).unwrap_err();
            assert!(
                refused.contains("neither an IP address"),
                "{bad}: {refused}"
            );
        }
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        let client = none.client(ip("198.51.100.9"), ["203.0.113.5"].into_iter());
        assert_eq!(client, ip("198.51.100.9"));
    }

    #[test]
    fn a_peer_that_is_not_a_trusted_proxy_is_the_client_whatever_it_forwards() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let client = trusted.client(ip("198.51.100.9"), ["203.0.113.5"].into_iter());
        assert_eq!(client, ip("198.51.100.9"));
    }

    #[test]
    fn the_walk_stops_at_the_first_address_no_trusted_proxy_is() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // The client claims 1.1.1.1; the edge proxy 10.0.0.2 heard it from 203.0.113.5.
        let headers = ["1.1.1.1, 203.0.113.5", "10.0.0.2"];
        let client = trusted.client(ip("10.0.0.1"), headers.into_iter());
        assert_eq!(client, ip("203.0.113.5"));
    }

    #[test]
    fn when_every_hop_is_trusted_the_leftmost_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let client = trusted.client(ip("10.0.0.1"), ["10.9.9.9, 10.0.0.2"].into_iter());
        assert_eq!(client, ip("10.9.9.9"));
        let no_header = trusted.client(ip("10.0.0.1"), std::iter::empty());
        assert_eq!(no_header, ip("10.0.0.1"));
    }

    #[test]
    fn an_entry_that_is_not_an_address_ends_the_walk_at_the_proxy_that_passed_it() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let client = trusted.client(ip("10.0.0.1"), ["unknown, 10.0.0.2"].into_iter());
        assert_eq!(client, ip("10.0.0.2"));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_name_the_same_client() {
        let trusted = proxies(&["127.0.0.1"]);
        let peer = ip("::ffff:127.0.0.1");
        assert_eq!(
            trusted.client(peer, ["203.0.113.5:4711"].into_iter()),
            ip("203.0.113.5")
        );
        assert_eq!(
            trusted.client(peer, ["[2001:db8::1]:443"].into_iter()),
            ip("2001:db8::1")
        );
        assert_eq!(
            trusted.client(peer, ["::ffff:203.0.113.5"].into_iter()),
            ip("203.0.113.5")
        );
    }
}
