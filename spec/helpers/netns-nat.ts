// Home routers for the multi-host lab (netns.ts), so a test can put a peer behind NAT as most
// peers are: what a router's namespace holds besides its WAN side (a LAN bridge, IPv4 forwarding,
// masquerade, a firewall that drops whatever the WAN starts, port forwards). Only settings and
// nftables text here; netns.ts runs them.
//
// The NAT is Linux conntrack's, as in most home routers: a host's source port is kept when it is
// free, and a mapping lets in only replies from the address and port it was made for (what
// RFC 4787 calls endpoint-independent mapping with address-and-port-dependent filtering).

/** The router's WAN link: its eth0, whose other end is on the lab's switch, as every host's is. */
export const WAN_DEVICE = 'eth0';

/** The router's NAT and firewall, apart from `inet clq` where partitions put their rules. */
export const NAT_TABLE = 'clqnat';

/** Hosts behind a router are 192.168.<lanNet>.2 and up; .1 is the router. */
export const FIRST_LAN_HOST = 2;
export const LAST_LAN_HOST = 254;

export function lanIpv4(lanNet: number, hostNo: number): string {
  return `192.168.${lanNet}.${hostNo}`;
}

/**
 * The router's namespace, set once its eth0 (WAN) is up and before its LAN exists. Only this
 * namespace: other namespaces and the machine keep their own settings.
 */
export const ROUTER_SYSCTLS: readonly string[] = [
  'net.ipv4.ip_forward=1',
  // With br_netfilter loaded, frames bridged between two LAN hosts would go through the
  // forward chain below, whose policy drops them: hosts of one LAN would not reach each other.
  'net.bridge.bridge-nf-call-iptables=0',
  'net.bridge.bridge-nf-call-ip6tables=0',
  'net.bridge.bridge-nf-call-arptables=0',
  // The LAN bridge and its ports, made after this, get no IPv6; eth0 keeps the WAN's.
  'net.ipv6.conf.default.disable_ipv6=1',
];

/**
 * Masquerade of the LAN on eth0; forwarding from the LAN out, and in only for replies and port
 * forwards; nothing the WAN starts reaches the router itself, but ICMP (neighbour discovery,
 * errors, ping) does.
 */
export function routerRuleset(lanBridge: string, lanNet: number): string {
  const table = `inet ${NAT_TABLE}`;
  return [
    `add table ${table}`,
    `add chain ${table} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add chain ${table} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    `add rule ${table} postrouting oifname "${WAN_DEVICE}" ip saddr 192.168.${lanNet}.0/24 masquerade`,
    `add chain ${table} forward { type filter hook forward priority filter; policy drop; }`,
    `add rule ${table} forward ct state established,related accept`,
    `add rule ${table} forward iifname "${lanBridge}" oifname "${WAN_DEVICE}" accept`,
    `add rule ${table} forward ct status dnat accept`,
    `add chain ${table} input { type filter hook input priority filter; policy accept; }`,
    `add rule ${table} input iifname != "${WAN_DEVICE}" accept`,
    `add rule ${table} input ct state established,related accept`,
    `add rule ${table} input meta l4proto { icmp, ipv6-icmp } accept`,
    `add rule ${table} input drop`,
    '',
  ].join('\n');
}

/** A port forward: TCP and UDP to the router's WAN address and `port` go to `toIpv4`:`toPort`. */
export function forwardPortRule(wanIpv4: string, port: number, toIpv4: string, toPort: number): string {
  return `add rule inet ${NAT_TABLE} prerouting iifname "${WAN_DEVICE}" ip daddr ${wanIpv4} meta l4proto { tcp, udp } th dport ${port} dnat ip to ${toIpv4}:${toPort}\n`;
}

export function assertPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`${what} must be a port number from 1 to 65535, not ${port}`);
}
