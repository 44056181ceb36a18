#!/usr/bin/env bash
# Load test of `osrepo serve` against nginx serving the same tree in the same run.
# usage: bench/serve.sh TREE [REQUESTS] [CONCURRENCY]   (TREE: an osrepo out/ with a deb repo)
# A mix of index and package files (InRelease, Packages.xz, Packages, the key, the largest and
# a small .deb): REQUESTS are split over them, each batch with `ab -k -c CONCURRENCY`. Every
# request must succeed (0 failed, 0 non-2xx); prints requests/s of both and the ratio.
set -euo pipefail
tree=$(realpath "${1:?usage: bench/serve.sh TREE [REQUESTS] [CONCURRENCY]}")
total=${2:-5000}
conc=${3:-64}
bin=${OSREPO:-$(dirname "$0")/../target/release/osrepo}
[ -x "$bin" ] || { echo "no osrepo binary at $bin (cargo build --release)" >&2; exit 1; }
need=()
command -v ab >/dev/null || need+=(apache2-utils)
command -v nginx >/dev/null || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

dist=$(ls -d "$tree"/*/dists/* | head -n 1)
rel=${dist#"$tree"/}
debs=$(find "$tree" -name '*.deb' -printf '%s %P\n' | sort -n)
paths=("/$rel/InRelease" "/$(cd "$tree" && ls "$rel"/main/binary-*/Packages.xz | head -n 1)"
  "/$(cd "$tree" && ls "$rel"/main/binary-*/Packages | head -n 1)" "/keys/osrepo.gpg"
  "/$(echo "$debs" | tail -n 1 | cut -d' ' -f2)" "/$(echo "$debs" | head -n 1 | cut -d' ' -f2)")
per=$((total / ${#paths[@]}))

port_osrepo=18080
port_nginx=18081
"$bin" serve "$tree" --listen 127.0.0.1:$port_osrepo >"$work/osrepo.out" 2>"$work/osrepo.log" &
pids+=($!)
cat >"$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx.err;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  include /etc/nginx/mime.types;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:$port_nginx; root $tree; }
}
CONF
nginx -c "$work/nginx.conf" &
pids+=($!)
sleep 1

# One batch per path; total requests / total seconds.
run() {
  local port=$1 secs=0 failed=0
  for p in "${paths[@]}"; do
    ab -q -k -n "$per" -c "$conc" "http://127.0.0.1:$port$p" >"$work/ab.out" 2>&1 || { cat "$work/ab.out" >&2; exit 1; }
    local t f n
    t=$(sed -n 's/^Time taken for tests: *\([0-9.]*\).*/\1/p' "$work/ab.out")
    f=$(sed -n 's/^Failed requests: *\([0-9]*\).*/\1/p' "$work/ab.out")
    n=$(sed -n 's/^Non-2xx responses: *\([0-9]*\).*/\1/p' "$work/ab.out")
    secs=$(echo "$secs + $t" | bc -l)
    failed=$((failed + f + ${n:-0}))
  done
  echo "$secs $failed"
}
# Warm the page cache and both servers.
cat $(find "$tree" -type f) >/dev/null
read -r s_o f_o < <(run $port_osrepo)
read -r s_n f_n < <(run $port_nginx)
n=$((per * ${#paths[@]}))
rps_o=$(echo "$n / $s_o" | bc -l)
rps_n=$(echo "$n / $s_n" | bc -l)
printf 'paths: %s\n' "${paths[*]}"
printf 'requests %d, concurrency %d\n' "$n" "$conc"
printf 'osrepo serve: %8.0f req/s  %s failed\n' "$rps_o" "$f_o"
printf 'nginx:        %8.0f req/s  %s failed\n' "$rps_n" "$f_n"
printf 'ratio osrepo/nginx: %.2f\n' "$(echo "$rps_o / $rps_n" | bc -l)"
[ "$f_o" = 0 ] && [ "$f_n" = 0 ] || { echo "errors in the load test" >&2; exit 1; }
