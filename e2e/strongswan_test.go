//go:build e2e

package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// strongSwanPlugins are the plugins each charon loads: kernel-libipsec carries ESP in
// userspace over a TUN device (the kernel here lacks ESP), kernel-netlink does addresses
// and routes.
const strongSwanPlugins = "random nonce kdf aes sha1 sha2 hmac gmp openssl pem pkcs1 x509 pubkey " +
	"kernel-libipsec kernel-netlink socket-default vici"

// strongswan runs one charon per office with its own strongswan.conf, swanctl.conf and
// vici socket (`ip netns exec` mounts /etc/netns/NS/* over /etc, so charon, swanctl and
// the pinger's driver inside the namespace all see the office's own files), loads an IKEv2
// PSK connection to the other office's WAN address without MOBIKE, and establishes it
// from A. It returns each office's pinger config for the strongswan driver.
func (l *lab) strongswan() map[*office]string {
	t := l.t
	psk := "e2e-psk-" + runID() + runID()
	conf := map[*office]string{}
	for i, o := range []*office{l.a, l.b} {
		peer := []*office{l.a, l.b}[1-i]
		etc := filepath.Join("/etc/netns", string(o.ns))
		if err := os.MkdirAll(filepath.Join(etc, "swanctl", "conf.d"), 0o700); err != nil {
			t.Fatal(err)
		}
		sock := "unix://" + filepath.Join(o.dir, "charon.vici")
		write(t, filepath.Join(etc, "strongswan.conf"), fmt.Sprintf(`charon-systemd {
	load = %s
	journal { default = -1 }
	filelog { stderr { default = 0 } }
	plugins { vici { socket = %s } }
}
swanctl {
	load = random openssl pem pkcs1 x509 pubkey
	socket = %s
}
`, strongSwanPlugins, sock, sock))
		write(t, filepath.Join(etc, "swanctl", "swanctl.conf"), fmt.Sprintf(`connections {
	to-%[1]s {
		version = 2
		remote_addrs = %[2]s
		encap = yes
		mobike = no
		unique = replace
		local {
			auth = psk
			id = %[3]s
		}
		remote {
			auth = psk
			id = %[1]s
		}
		children {
			lan {
				local_ts = %[4]s
				remote_ts = %[5]s
			}
		}
	}
}
secrets {
	ike-e2e {
		id-1 = %[3]s
		id-2 = %[1]s
		secret = %[6]q
	}
}
include conf.d/*.conf
`, peer.site, peer.wan, o.site, o.lan, peer.lan, psk))
		o.ns.start(t, "charon "+o.site, []string{"PATH=" + os.Getenv("PATH")}, "charon-systemd")
		path := filepath.Join(o.dir, "pinger.yaml")
		write(t, path, fmt.Sprintf("strongswan:\n  initiate_timeout: 10s\n  peers:\n    %s: { connection: to-%s, children: [ lan ] }\n", peer.site, peer.site))
		conf[o] = path
	}
	for _, o := range []*office{l.a, l.b} {
		if _, ok := poll(15*time.Second, 100*time.Millisecond, func() bool {
			_, err := tryRun("ip", "netns", "exec", string(o.ns), "swanctl", "--load-all")
			return err == nil
		}); !ok {
			t.Fatalf("charon in %s did not take its configuration within 15s", o.ns)
		}
	}
	l.a.ns.exec(t, "swanctl", "--initiate", "--ike", "to-"+l.b.site, "--child", "lan", "--timeout", "10")
	return conf
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStrongSwanHeals moves the offices' WAN addresses under an IPsec tunnel (IKEv2 without
// MOBIKE, ESP in userspace) driven by the pinger's strongswan driver. strongSwan does not
// roam without MOBIKE, so every heal here is ppter's.
func TestStrongSwanHeals(t *testing.T) {
	requireHost(t, "ip", "go", "redis-server", "ping", "charon-systemd", "swanctl")
	if _, err := os.Stat("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"); err != nil {
		t.Skip("strongSwan's kernel-libipsec plugin is missing (Debian: libcharon-extra-plugins)")
	}
	l := newLab(t)
	conf := l.strongswan()
	for _, o := range []*office{l.a, l.b} {
		l.startPinger(o, "--driver", "strongswan", "--config", conf[o])
	}
	// Each pinger's first cycle applies the other office's address (and re-initiates).
	if _, ok := poll(60*time.Second, 250*time.Millisecond, func() bool {
		return l.a.pinger.log.count("msg=applied") > 0 && l.b.pinger.log.count("msg=applied") > 0
	}); !ok {
		t.Fatal("the pingers did not apply the peers' addresses within 60s")
	}
	if _, ok := l.waitHeal(30 * time.Second); !ok {
		t.Fatal("LAN-to-LAN traffic does not flow through the IPsec tunnel at the start")
	}
	l.assertCloud(l.a, l.b)

	h := &heals{l: l, name: "strongswan"}
	defer h.report()

	l.move(l.b, netip.MustParseAddr("192.0.2.20"))
	h.measure("b-moves", healTimeout, l.b)
	l.assertCloud(l.b)

	l.move(l.a, netip.MustParseAddr("203.0.113.31"))
	l.move(l.b, netip.MustParseAddr("203.0.113.32"))
	h.measure("both-move", healTimeout, l.a, l.b)
	l.assertCloud(l.a, l.b)
}
