# test/lib.sh: shell helpers shared by test/run and test/demo.
#
#   install_dependencies PKG...   apt-get install what is missing (as root)
#   build_and_install [COPT]      make clean all install, warnings as errors
#                                 (holding flock(ANN_BUILD_LOCK) if set)
#   start_cluster DIR             initdb + start a throwaway cluster in DIR on a
#                                 private port and socket directory; exports
#                                 PGHOST, PGPORT, PGUSER, PGDATABASE
#   stop_cluster DIR
#   prove_as_postgres DIR TESTS [VAR=VALUE...]
#                                 the TAP tests TESTS (make prove_installcheck)
#                                 as the postgres user, in a copy of the tree
#                                 in DIR/tap; VAR=VALUE set in their environment
#
# As root, the cluster runs as the postgres user (initdb refuses root).
# ANN_PG_BIN names another PostgreSQL 15 bin directory (default Debian's).

PG_BIN=${ANN_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=$PG_BIN/pg_config
export PATH="$PG_BIN:$PATH"

if [ "$(id -u)" = 0 ]; then
	AS_PG=(runuser -u postgres --)
else
	AS_PG=()
fi

install_dependencies() {
	local missing=()
	for pkg in "$@"; do
		dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	echo "== installing ${missing[*]}"
	apt-get update -qq >/dev/null &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
		{ echo "apt-get install failed" >&2; exit 1; }
}

build_and_install() {
	(
		# machines shared by several builders serialise them on a lock file
		[ -n "${ANN_BUILD_LOCK:-}" ] && exec 9>"$ANN_BUILD_LOCK" && flock 9
		make -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
		make -s PG_CONFIG="$PG_CONFIG" COPT="${1:-}" all ||
			{ echo "build failed" >&2; exit 1; }
		make -s PG_CONFIG="$PG_CONFIG" install >/dev/null || { echo "install failed" >&2; exit 1; }
	) || exit 1
}

# start_cluster DIR [postgres -c settings...]
start_cluster() {
	local dir=$1 opts="" setting
	shift
	for setting in "$@"; do
		opts="$opts -c $setting"
	done
	mkdir -p "$dir"
	chmod 755 "$dir"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir"
	PGPORT=$((40000 + RANDOM % 20000))
	export PGHOST="$dir" PGPORT PGUSER=postgres PGDATABASE=postgres
	"${AS_PG[@]}" initdb -D "$dir/data" -U postgres --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log"; exit 1; }
	"${AS_PG[@]}" pg_ctl -D "$dir/data" -l "$dir/server.log" -w \
		-o "-p $PGPORT -k $dir -c listen_addresses='' $opts" start >/dev/null ||
		{ cat "$dir/server.log"; exit 1; }
}

# TAP tests start their own clusters, which initdb refuses to do as root:
# they run as postgres in a copy of the tree that user owns.
prove_as_postgres() {
	local dir=$1 tests=$2 tree="$1/tap"
	shift 2
	mkdir -p "$tree"
	cp -r Makefile ann.control sql src test "$tree"/
	[ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
	(cd "$tree" && "${AS_PG[@]}" env PATH="$PATH" "$@" \
		make -s PG_CONFIG="$PG_CONFIG" prove_installcheck PROVE_TESTS="$tests" PROVE_FLAGS="-v --timer")
}

stop_cluster() {
	[ -f "$1/data/postmaster.pid" ] &&
		"${AS_PG[@]}" pg_ctl -D "$1/data" -m fast -w stop >/dev/null 2>&1
	return 0
}
