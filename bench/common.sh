# Shared by bench/index-*.sh (sourced): time and peak memory of commands, medians.
# Each measured command runs under /usr/bin/time (GNU time, package `time`): wall seconds,
# the peak RSS of the largest process it ran (a shell pipeline reports its biggest member)
# and CPU seconds (user + system, all processes: less sensitive than wall time to other
# load on the machine, and what a busy CI runner pays).

command -v /usr/bin/time >/dev/null || { echo "/usr/bin/time missing (apt-get install time)" >&2; exit 1; }

# measure NAME: run the function NAME once (exported with `export -f`, with the variables
# it uses), append "wall_s max_rss_kb cpu_s" to $res/NAME.
measure() {
  /usr/bin/time -f '%e %M %U %S' -o "$res/$1.one" bash -c "$1" > /dev/null 2> "$res/$1.err" \
    || { echo "$1 failed:" >&2; cat "$res/$1.err" >&2; exit 1; }
  tail -n 1 "$res/$1.one" | awk '{ printf "%s %s %.2f\n", $1, $2, $3 + $4 }' >> "$res/$1"
}

# median NAME COLUMN: the median of one column of $res/NAME (1 = wall s, 2 = max RSS KB,
# 3 = CPU s).
median() {
  cut -d' ' -f"$2" "$res/$1" | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# header: the column titles of row.
header() {
  printf '%-52s %8s  %-13s %8s %9s\n' "" "wall" "(min..max)" "CPU" "peak RSS"
}

# row LABEL NAME: "label  median wall s  (min..max)  median CPU s  peak MB"
row() {
  local lo hi
  lo=$(cut -d' ' -f1 "$res/$2" | sort -n | head -n 1)
  hi=$(cut -d' ' -f1 "$res/$2" | sort -n | tail -n 1)
  printf '%-52s %6.2f s  (%s..%s)  %6.2f s %6.0f MB\n' "$1" "$(median "$2" 1)" "$lo" "$hi" \
    "$(median "$2" 3)" "$(echo "$(median "$2" 2) / 1024" | bc -l)"
}

# ratio A B [COLUMN]: median(A) / median(B), of wall time (1, default) or CPU time (3).
ratio() {
  echo "$(median "$1" "${3:-1}") / $(median "$2" "${3:-1}")" | bc -l | xargs printf '%.2f'
}

# ratios LABEL A B: "LABEL  wall-time ratio x  (CPU-time ratio x)"
ratios() {
  printf '%-66s %6sx  (CPU %sx)\n' "$1" "$(ratio "$2" "$3")" "$(ratio "$2" "$3" 3)"
}

load() { cut -d' ' -f1-3 /proc/loadavg; }
