#!/usr/bin/env bash
# Smoke test of the real window: starts a private Xvfb, opens `scribe --sandbox` in it with a throwaway
# profile, waits for the "Scribe" window, photographs the screen and checks the window is not blank.
#
#   scripts/xvfb-smoke.sh [path/to/scribe]          (default: bin/scribe)
#
# Environment:
#   SMOKE_OUT         where the screenshot goes (default bin/smoke.png)
#   SMOKE_TIMEOUT     seconds to wait for the window and for its content to settle (default 60)
#   SMOKE_MIN_COLORS  fewest distinct colours the window must show to count as drawn (default 32)
#   SMOKE_KEYS        key combinations to type into the window before the photograph (xdotool syntax,
#                     space-separated), e.g. ctrl+5 for the Queue screen
#   SMOKE_STEPS       steps run after SMOKE_KEYS, space-separated, for photographs of a screen in use:
#                       click:X,Y      click at X,Y in the window (pixels from its top-left corner)
#                       key:COMBO      type a key combination (xdotool syntax), e.g. key:ctrl+r
#                       wait:SECONDS   wait that long (a recording runs; the window never holds still)
#                       settle         wait until the window holds still, as before the first photograph
#                       shot:FILE      photograph the window now into FILE (the final one still goes to
#                                      SMOKE_OUT), e.g. for the Record screen mid-recording
#   SMOKE_MIC         a WAV file the app's microphone hears, in real time, from just before the window
#                     opens (a PulseAudio null sink, scripts/vmic.sh): e.g. speech from espeak-ng -w
#   SMOKE_KEEP=1      keep the temporary folder (profile, logs, screenshots) for a look afterwards
set -euo pipefail

bin=${1:-bin/scribe}
out=${SMOKE_OUT:-bin/smoke.png}
timeout_s=${SMOKE_TIMEOUT:-60}
min_colors=${SMOKE_MIN_COLORS:-32}

say() { echo "xvfb-smoke: $*" >&2; }
fail() {
	say "FAIL: $*"
	exit 1
}

if [[ $(uname -s) != Linux ]]; then
	say "skipped: the Xvfb smoke test runs on Linux only (this is $(uname -s))"
	exit 0
fi
for tool in Xvfb xauth xdotool import identify compare; do
	command -v "$tool" >/dev/null || fail "$tool is missing; run scripts/deps.sh test"
done
[[ -x $bin ]] || fail "$bin is not an executable; build it first (make build)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/scribe-smoke.XXXXXX")
xvfb_pid='' app_pid='' search_pid='' mic_pid='' mic_sink=''
vmic=$(dirname "$0")/vmic.sh
app_log=$tmp/app.log

# stop sends SIGTERM to a process and waits up to $2 seconds for it to go, then kills it. Returns 1 if it
# had to be killed.
stop() {
	local pid=$1 grace=$2
	[[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null || return 0
	timeout "$grace" tail --pid="$pid" -f /dev/null 2>/dev/null && return 0
	kill -KILL "$pid" 2>/dev/null || true
	return 1
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# The app first, while its X server is still there to say goodbye to; then the server.
	stop "$search_pid" 2 || true
	stop "$app_pid" 10 || true
	stop "$mic_pid" 2 || true
	[[ -n $mic_sink ]] && bash "$vmic" pulse-down "$mic_sink" >/dev/null 2>&1 || true
	stop "$xvfb_pid" 5 || true
	if [[ ${SMOKE_KEEP:-} == 1 ]]; then
		say "kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

print_app_log() {
	say "---- app output ($app_log) ----"
	cat "$app_log" >&2 || true
	say "---- end of app output ----"
}

# start_xvfb starts Xvfb on display :$1 with a fresh cookie and waits until it accepts connections:
# -displayfd makes Xvfb write the display number to fd 3 when it is ready, so we block on a read
# with a deadline instead of polling. Returns non-zero when the server did not come up.
start_xvfb() {
	local n=$1 fifo=$tmp/xvfb.ready ready=
	export XAUTHORITY=$tmp/Xauthority
	: >"$XAUTHORITY"
	xauth -q -f "$XAUTHORITY" add ":$n" . "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
	rm -f "$fifo" && mkfifo "$fifo"
	Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp -auth "$XAUTHORITY" -displayfd 3 \
		3>"$fifo" >"$tmp/xvfb.log" 2>&1 &
	xvfb_pid=$!
	read -r -t 15 ready <"$fifo" || true
	if [[ $ready != "$n" ]]; then
		kill "$xvfb_pid" 2>/dev/null || true
		wait "$xvfb_pid" 2>/dev/null || true
		xvfb_pid=
		return 1
	fi
	export DISPLAY=:$n
}

# Pick a display nobody holds; if another server grabs it between the check and the start, try the next.
n=99 started=
for _ in $(seq 1 20); do
	while [[ -e /tmp/.X$n-lock || -e /tmp/.X11-unix/X$n ]]; do n=$((n + 1)); done
	if start_xvfb "$n"; then
		started=1
		break
	fi
	n=$((n + 1))
done
[[ -n $started ]] || {
	cat "$tmp/xvfb.log" >&2 || true
	fail "Xvfb did not start (log above)"
}
say "Xvfb ready on $DISPLAY"

# The app runs hermetically: its own profile, config and cache folders, and no session bus, so it never
# touches the keyring or settings of whoever runs the test (it falls back to its file store by itself).
mkdir -p "$tmp/profile" "$tmp/config" "$tmp/cache"
chmod 700 "$tmp/profile"

# SMOKE_MIC: the app's default microphone is a null sink's monitor, and the file plays into the sink.
if [[ -n ${SMOKE_MIC:-} ]]; then
	[[ -r $SMOKE_MIC ]] || fail "SMOKE_MIC=$SMOKE_MIC cannot be read"
	mic_sink=scribe_smoke_$$
	while read -r line; do
		[[ $line == export\ * ]] && export "${line#export }"
	done < <(bash "$vmic" pulse-up "$mic_sink") || fail "no virtual microphone (scripts/vmic.sh pulse-up)"
	conf=$(bash "$vmic" alsa-pulse "$mic_sink" "$tmp" | sed -n 's/.*ALSA_CONFIG_PATH=//p')
	[[ -n $conf ]] || fail "scripts/vmic.sh alsa-pulse gave no ALSA configuration"
	export ALSA_CONFIG_PATH=$conf PULSE_SOURCE=$mic_sink.monitor
	bash "$vmic" pulse-play "$mic_sink" "$SMOKE_MIC" >"$tmp/mic.log" 2>&1 &
	mic_pid=$!
	say "microphone: $SMOKE_MIC plays into $mic_sink"
fi
LANG=en_US.UTF-8 XDG_CONFIG_HOME=$tmp/config XDG_CACHE_HOME=$tmp/cache DBUS_SESSION_BUS_ADDRESS=disabled: \
	"$bin" --sandbox --profile "$tmp/profile" >"$app_log" 2>&1 &
app_pid=$!
say "started $bin (pid $app_pid)"

# Wait for the window, or for the app to exit first, whichever comes first.
timeout "$timeout_s" xdotool search --sync --onlyvisible --name '^Scribe' >"$tmp/wid" 2>/dev/null &
search_pid=$!
finished=
wait -n -p finished "$app_pid" "$search_pid" || true
if [[ $finished == "$app_pid" ]]; then
	app_pid=
	print_app_log
	fail "the app exited before its window appeared"
fi
search_pid=
wid=$(head -n1 "$tmp/wid")
if [[ -z $wid ]]; then
	print_app_log
	fail "no window titled 'Scribe' appeared within ${timeout_s}s"
fi
say "window $wid is mapped: $(xdotool getwindowname "$wid")"

# The window is mapped before its first frame is drawn, and --sandbox signs in after start. settle
# photographs the screen until the window's content holds still over two shots (or the deadline passes).
shot=$tmp/shot.png prev=$tmp/prev.png colors=0 stable=''
settle() {
	rm -f "$shot" "$prev"
	stable=''
	deadline=$((SECONDS + timeout_s))
	while ((SECONDS < deadline)); do
		kill -0 "$app_pid" 2>/dev/null || {
			app_pid=
			print_app_log
			fail "the app exited while its window was open"
		}
		# The geometry is read each time: the window may resize itself once it has signed in.
		geometry=$(xdotool getwindowgeometry --shell "$wid" 2>/dev/null) || {
			print_app_log
			fail "the Scribe window went away"
		}
		eval "$geometry" # sets X, Y, WIDTH, HEIGHT
		crop="${WIDTH}x${HEIGHT}+${X}+${Y}"
		import -window root "$shot"
		colors=$(convert "$shot" -crop "$crop" +repage -format '%k' info:)
		if ((colors >= min_colors)) && [[ -f $prev ]] &&
			[[ $(compare -metric AE "$shot" "$prev" null: 2>&1 || true) == 0 ]]; then
			stable=1
			break
		fi
		mv "$shot" "$prev"
		sleep 0.5 # the pace of the photographs; the loop ends on the condition above, not on time
	done
	[[ -f $shot ]] || mv "$prev" "$shot"
}
settle

# SMOKE_KEYS: key combinations (xdotool syntax, space-separated) typed into the settled window before
# the photograph, e.g. SMOKE_KEYS=ctrl+5 opens the Queue screen.
if [[ -n ${SMOKE_KEYS:-} ]]; then
	# shellcheck disable=SC2086 # one argument per key combination
	{ xdotool windowfocus --sync "$wid" && xdotool key --clearmodifiers --delay 200 $SMOKE_KEYS; } ||
		fail "could not type $SMOKE_KEYS into the window"
	say "typed $SMOKE_KEYS"
	settle
fi

# photograph FILE: the window as it is now, whether or not it holds still.
photograph() {
	eval "$(xdotool getwindowgeometry --shell "$wid")" || fail "the Scribe window went away"
	mkdir -p "$(dirname "$1")"
	import -window root -crop "${WIDTH}x${HEIGHT}+${X}+${Y}" +repage "$1"
	say "photographed $1"
}

for step in ${SMOKE_STEPS:-}; do
	kill -0 "$app_pid" 2>/dev/null || {
		app_pid=
		print_app_log
		fail "the app exited before step $step"
	}
	case $step in
	click:*)
		xy=${step#click:}
		xdotool mousemove --window "$wid" "${xy%,*}" "${xy#*,}" click 1 || fail "could not click at $xy"
		;;
	key:*) xdotool windowfocus --sync "$wid" && xdotool key --clearmodifiers "${step#key:}" || fail "could not type ${step#key:}" ;;
	wait:*) sleep "${step#wait:}" ;; # a recording's length: there is no condition to wait on
	settle) settle ;;
	shot:*) photograph "${step#shot:}" ;;
	*) fail "unknown step $step in SMOKE_STEPS (click:X,Y key:COMBO wait:SECONDS settle shot:FILE)" ;;
	esac
done

mkdir -p "$(dirname "$out")"
cp "$shot" "$out"
say "screenshot $out: window ${WIDTH}x${HEIGHT} at ${X},${Y} shows ${colors} colours"
if ((colors < min_colors)); then
	print_app_log
	fail "the window looks blank (${colors} colours, fewer than ${min_colors}); see $out"
fi
[[ -n $stable ]] || say "note: the window was still changing after ${timeout_s}s; kept the last shot"

kill -0 "$app_pid" 2>/dev/null || {
	app_pid=
	print_app_log
	fail "the app exited during the test"
}
# SIGTERM closes the window (cmd/scribe); an app that ignores it is noted, not failed: the window was fine.
stop "$app_pid" 10 || say "note: the app did not quit within 10s of SIGTERM and was killed"
app_pid=
say "PASS"
