# Sourced, from the repository root, by the scripts run on the GPU machine
# (cuda/gpu-verify.sh, cuda/decode/gpu-run-decode.sh, cuda/decode/gpu-prof.sh).
# The image there lacks isa-l and liburing: the Debian packages carried in
# .gpu-deps (made by cuda/gpu-deps.sh) are unpacked into .gpu-deps/root and
# the loader is pointed at them.  Sets:
#   mk           the make command line (an array) that builds against them
#   D            the unpacked root
#   gpu_deps_ok  1 when the packages were there, 0 when mk is plain make
export PATH=/usr/local/cuda/bin:$PATH
D=$PWD/.gpu-deps/root
mk=(make -j16)
gpu_deps_ok=0
if ls .gpu-deps/libisal*.deb >/dev/null 2>&1; then
	rm -rf "$D"
	mkdir -p "$D"
	for f in .gpu-deps/*.deb; do dpkg -x "$f" "$D"; done
	export LD_LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu
	mk+=("CFLAGS=-O2 -g -Wno-error -I$D/usr/include" "ESS_LDFLAGS=-L$D/usr/lib/x86_64-linux-gnu")
	gpu_deps_ok=1
fi
