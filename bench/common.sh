# Shared by bench/index-*.sh (sourced): time and peak memory of commands, medians.
# Each measured command runs under /usr/bin/time (GNU time, package `time`): wall seconds
# and the peak RSS of the largest process it ran (a shell pipeline reports its biggest
# member).

command -v /usr/bin/time >/dev/null || { echo "/usr/bin/time missing (apt-get install time)" >&2; exit 1; }

# measure NAME: run the function NAME once (exported with `export -f`, with the variables
# it uses), append "seconds max_rss_kb" to $res/NAME.
measure() {
  /usr/bin/time -f '%e %M' -o "$res/$1.one" bash -c "$1" > /dev/null 2> "$res/$1.err" \
    || { echo "$1 failed:" >&2; cat "$res/$1.err" >&2; exit 1; }
  tail -n 1 "$res/$1.one" >> "$res/$1"
}

# median NAME COLUMN: the median of one column of $res/NAME (1 = seconds, 2 = max RSS KB).
median() {
  cut -d' ' -f"$2" "$res/$1" | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# row LABEL NAME: "label  median s  (min..max)  peak MB"
row() {
  local lo hi
  lo=$(cut -d' ' -f1 "$res/$2" | sort -n | head -n 1)
  hi=$(cut -d' ' -f1 "$res/$2" | sort -n | tail -n 1)
  printf '%-58s %7.2f s  (%s..%s)  %6.0f MB\n' "$1" "$(median "$2" 1)" "$lo" "$hi" "$(echo "$(median "$2" 2) / 1024" | bc -l)"
}

# ratio A B: median(A) / median(B)
ratio() {
  echo "$(median "$1" 1) / $(median "$2" 1)" | bc -l | xargs printf '%.2f'
}

load() { cut -d' ' -f1-3 /proc/loadavg; }
