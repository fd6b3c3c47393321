#!/bin/sh
# Stand-in for `ktailor kconfig`: implements its CLI contract by running the
# kernel's own conf, so the harness can be checked before (or independently
# of) ktailor. Every case should come out identical; with
# KCONFORM_STANDIN_CORRUPT=1 a line is appended to each output, and every
# case should come out different.
#
#   ktailor kconfig MODE --kernel DIR --arch ARCH [--input F] [--defconfig F]
#                        [--allconfig F] [--seed N] --output F
set -eu

die() { echo "oracle-standin: $*" >&2; exit 2; }

[ "${1-}" = kconfig ] || die "usage: $0 kconfig MODE --kernel DIR --arch ARCH ... --output FILE"
mode=${2-}
shift 2
kernel= arch= input= defconfig= allconfig= seed= output=
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "missing value for $1"
	case $1 in
	--kernel) kernel=$2 ;;
	--arch) arch=$2 ;;
	--input) input=$2 ;;
	--defconfig) defconfig=$2 ;;
	--allconfig) allconfig=$2 ;;
	--seed) seed=$2 ;;
	--output) output=$2 ;;
	*) die "unknown option $1" ;;
	esac
	shift 2
done
[ -f "$kernel/Makefile" ] || die "--kernel must be a kernel source directory"
[ -n "$arch" ] && [ -n "$output" ] || die "--arch and --output are required"

# One objdir per (tree, arch), serialised with flock, so conf is built once.
base=${TMPDIR:-/tmp}/kconform-standin-$(id -u)
tag=$(printf '%s %s' "$(cd "$kernel" && pwd -P)" "$arch" | cksum | cut -d' ' -f1)
obj=$base/$tag
mkdir -p "$obj"
exec 9>"$obj.lock"
flock 9

rm -f "$obj/.config" "$obj/.config.old" "$obj/defconfig"
vars="ARCH=$arch"
[ "$arch" = um ] && vars="$vars SUBARCH=x86"
target=$mode
out=$obj/.config
case $mode in
olddefconfig | savedefconfig)
	[ -n "$input" ] || die "$mode needs --input"
	cp "$input" "$obj/.config"
	[ "$mode" = savedefconfig ] && out=$obj/defconfig
	;;
defconfig)
	if [ -n "$defconfig" ]; then
		# `make defconfig` reads arch/$(SRCARCH)/configs/$(KBUILD_DEFCONFIG),
		# relative to the source tree.
		case $arch in i386 | x86_64) src=x86 ;; *) src=$arch ;; esac
		rel=$(realpath --relative-to="$kernel/arch/$src/configs" "$defconfig")
		vars="$vars KBUILD_DEFCONFIG=$rel"
	fi
	;;
esac
[ -n "$seed" ] && export KCONFIG_SEED="$seed"
[ -n "$allconfig" ] && export KCONFIG_ALLCONFIG="$allconfig"

# shellcheck disable=SC2086 # $vars is a list of make variables
make -s -C "$kernel" O="$obj" $vars "$target" >&2
cp "$out" "$output"
if [ "${KCONFORM_STANDIN_CORRUPT:-}" = 1 ]; then
	echo "# corrupted by oracle-standin" >>"$output"
fi
