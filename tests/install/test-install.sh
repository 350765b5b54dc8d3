#!/usr/bin/env bash
# Installs the build into a scratch DESTDIR and checks that a program builds
# and runs against it the way users build: with pkg-config, both against the
# installed copy and against the build tree (meson-uninstalled).
#   usage: test-install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

meson install -C "$build" --no-rebuild --quiet --destdir "$scratch/root" >/dev/null

prefix=$(meson introspect "$build" --buildoptions |
         python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
libdir=$(meson introspect "$build" --buildoptions |
         python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"][0])')
root="$scratch/root$prefix"
bindir=$(meson introspect "$build" --buildoptions |
         python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="bindir"][0])')
for f in "include/leakrt.h" "$libdir/libleakrt.a" "$libdir/libleakrt.so" "$libdir/pkgconfig/leakrt.pc" "$bindir/leakscan"; do
    [ -e "$root/$f" ] || fail "meson install did not install $f"
done
"$root/$bindir/leakscan" --version | grep -q '^leakscan ' || fail "the installed leakscan does not run"
mandir=$(meson introspect "$build" --buildoptions |
         python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="mandir"][0])')
[ -e "$root/$mandir/man1/leakscan.1" ] || fail "meson install did not install the man page ($mandir/man1/leakscan.1)"
page=$(MANPATH="$root/$mandir" MANWIDTH=80 man -P cat leakscan 2>&1) || fail "man leakscan does not find the installed page: $page"
grep -q 'EXIT STATUS' <<<"$page" && grep -q 'leakscan attach' <<<"$page" ||
    fail "man leakscan from the prefix does not show the page: ${page:0:200}"
echo "installed: leakrt.h, libleakrt.a, libleakrt.so, leakrt.pc, leakscan, man leakscan"

# Against the installed copy (sysroot-relocated paths).
export PKG_CONFIG_SYSROOT_DIR="$scratch/root"
export PKG_CONFIG_LIBDIR="$root/$libdir/pkgconfig"
flags=$(pkg-config --cflags --libs leakrt) || fail "pkg-config cannot find the installed leakrt.pc"
cc -o "$scratch/demo-installed" "$src/samples/demo.c" $flags -Wl,-rpath,"$root/$libdir"
out=$("$scratch/demo-installed") || fail "the program built against the installed library failed"
grep -q 'request 5' <<<"$out" || fail "unexpected output: $out"
echo "built and ran a program against the installed library"
# Statically, as the README says: the archive beside the shared library.
cc -o "$scratch/demo-static" "$src/samples/demo.c" $(pkg-config --cflags leakrt) "$root/$libdir/libleakrt.a" -lpthread
! ldd "$scratch/demo-static" | grep -q leakrt || fail "the static link still needs libleakrt.so"
"$scratch/demo-static" | grep -q 'request 5' || fail "the statically linked program failed"
echo "built and ran a program linked statically (libleakrt.a)"

# Against the build tree.
unset PKG_CONFIG_SYSROOT_DIR
export PKG_CONFIG_LIBDIR="$build/meson-uninstalled"
flags=$(pkg-config --cflags --libs leakrt) || fail "pkg-config cannot find leakrt-uninstalled.pc"
cc -o "$scratch/demo-uninstalled" "$src/samples/demo.c" $flags -Wl,-rpath,"$build/runtime-snapshot"
"$scratch/demo-uninstalled" | grep -q 'request 5' || fail "the program built against the build tree failed"
echo "built and ran a program against the build tree (leakrt-uninstalled.pc)"
