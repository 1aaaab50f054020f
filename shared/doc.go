// Package shared holds what the function and the pinger must agree on. It is split into
// site (site-name rules), wire (JSON types of the HTTP protocol), auth (the
// PPTER-HMAC-SHA256 scheme and Basic credentials) and ipclass (which addresses an office
// line may have). Everything under shared/ uses the
// standard library only, so the pinger stays small.
package shared
