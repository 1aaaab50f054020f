package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/ppter/ppter/pinger/internal/router"
)

// Environment variables with the credentials of the API drivers, used when the driver's
// section names no file.
const (
	EnvRouterAPIKey    = "PPTER_ROUTER_API_KEY"    // opnsense (with the secret), vyos
	EnvRouterAPISecret = "PPTER_ROUTER_API_SECRET" // opnsense
	EnvRouterToken     = "PPTER_ROUTER_TOKEN"      // fortigate
)

// resolveAPISecrets fills the credentials of the opnsense, vyos and fortigate drivers
// from their files or the environment. A named file that cannot be read or holds nothing
// is an error; no credential at all is reported by the driver's constructor.
func resolveAPISecrets(c *Config, env map[string]string) error {
	switch c.Driver {
	case DriverOPNsense:
		o := &c.Drivers.OPNsense
		if o.KeyFile != "" {
			b, err := os.ReadFile(o.KeyFile)
			if err != nil {
				return fmt.Errorf("opnsense api_key_file: %w", err)
			}
			if o.Key, o.Secret, err = router.ParseOPNsenseKeyFile(b); err != nil {
				return fmt.Errorf("opnsense api_key_file %s: %w", o.KeyFile, err)
			}
			return nil
		}
		key, secret := env[EnvRouterAPIKey], env[EnvRouterAPISecret]
		if (key == "") != (secret == "") {
			return errors.New("opnsense: set both " + EnvRouterAPIKey + " and " + EnvRouterAPISecret)
		}
		o.Key, o.Secret = key, secret
	case DriverVyOS:
		return secretFrom("vyos api_key_file", c.Drivers.VyOS.KeyFile, env[EnvRouterAPIKey], &c.Drivers.VyOS.Key)
	case DriverFortiGate:
		return secretFrom("fortigate token_file", c.Drivers.FortiGate.TokenFile, env[EnvRouterToken], &c.Drivers.FortiGate.Token)
	}
	return nil
}

// secretFrom sets *dst from file (surrounding whitespace dropped) or else fromEnv.
func secretFrom(what, file, fromEnv string, dst *string) error {
	if file == "" {
		*dst = fromEnv
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if b = bytes.TrimSpace(b); len(b) == 0 {
		return fmt.Errorf("%s %s: empty", what, file)
	}
	*dst = string(b)
	return nil
}

// newAPIDriver builds the openwrt, opnsense, vyos or fortigate driver.
func (c *Config) newAPIDriver() (router.Driver, error) {
	switch c.Driver {
	case DriverOpenWrt:
		return router.NewOpenWrt(c.Drivers.OpenWrt)
	case DriverOPNsense:
		return router.NewOPNsense(c.Drivers.OPNsense)
	case DriverVyOS:
		return router.NewVyOS(c.Drivers.VyOS)
	case DriverFortiGate:
		return router.NewFortiGate(c.Drivers.FortiGate)
	}
	return nil, fmt.Errorf("unknown driver %q", c.Driver)
}
