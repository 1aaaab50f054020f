#!/bin/sh
# package.sh builds what Function Compute runs, for `make package` and s.yaml's pre-deploy:
#
#   dist/fc/main          the function, linux/amd64, static (CGO off), mode 0755
#   dist/fc/ppter.yaml    the config, when PPTER_PACKAGE_CONFIG names one (or ./ppter.yaml exists)
#   dist/ppter-fc.zip     the same files, exec bit kept, for uploading in the console
#
# s.yaml deploys dist/fc (`code: ./dist/fc`, handler `main`). PPTER_DIST moves the output
# (tests use it); GO names the go command.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
dist=${PPTER_DIST:-$root/dist}
go=${GO:-go}
config=${PPTER_PACKAGE_CONFIG:-}
if [ -z "$config" ] && [ -f "$root/ppter.yaml" ]; then
	config=$root/ppter.yaml
fi

cd "$root"
rm -rf "$dist/fc" "$dist/ppter-fc.zip"
mkdir -p "$dist/fc"
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 "$go" build -trimpath -ldflags "-s -w" -o "$dist/fc/main" ./functions/ppter
chmod 0755 "$dist/fc/main"
if [ -n "$config" ]; then
	cp "$config" "$dist/fc/ppter.yaml"
	chmod 0644 "$dist/fc/ppter.yaml"
fi
"$go" run ./scripts/fczip -o "$dist/ppter-fc.zip" "$dist/fc"
echo "package: $dist/fc (code directory of s.yaml) and $dist/ppter-fc.zip"
