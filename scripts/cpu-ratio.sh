#!/usr/bin/env bash
# CPU time of a recorder against sox recording the same virtual microphone.
#
#   scripts/cpu-ratio.sh [-d SECONDS] -- COMMAND [ARG...]
#
# Sets up a PulseAudio virtual microphone of its own (scripts/vmic.sh) with
# espeak-ng speech playing in a loop, then records it for SECONDS (default 60)
# twice at the same time: with sox (resampled to 16 kHz mono 16-bit WAV, what
# Scribe's journal holds; `-t pulseaudio` where sox has that driver, else
# `-t alsa` through ALSA's pulse plugin) and with COMMAND, which finds the
# microphone as ALSA's default capture device through ALSA_CONFIG_PATH (as
# PortAudio does). COMMAND must stop by itself after SECONDS, for example:
#
#   scripts/cpu-ratio.sh -d 60 -- bin/scribe --profile "$(mktemp -d)" record --duration 60s
#
# Prints each side's user+system CPU seconds (from /usr/bin/time) and wall
# time, and the ratio COMMAND/sox, also per wall second in case the two ran
# for different times.
set -euo pipefail

secs=60
while [[ $# -gt 0 ]]; do
	case $1 in
	-d) secs=${2:?seconds}; shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
[[ $# -gt 0 ]] || { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }

for tool in sox espeak-ng paplay /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "cpu-ratio: $tool is not installed" >&2; exit 1; }
done

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/cpu-ratio-XXXXXX)
export VMIC_RUNTIME=$work/rt VMIC_OWN=1
sink=cpu_ratio
player=
cleanup() {
	[[ -n $player ]] && kill "$player" 2>/dev/null && wait "$player" 2>/dev/null
	"$here/vmic.sh" pulse-down "$sink" || true
	"$here/vmic.sh" pulse-stop || true
	rm -rf "$work"
}
trap cleanup EXIT

eval "$("$here/vmic.sh" pulse-up "$sink")" # PULSE_SERVER for sox
eval "$("$here/vmic.sh" alsa-pulse "$sink" "$work")" # ALSA_CONFIG_PATH for COMMAND
if sox -h 2>&1 | grep -q '^AUDIO DEVICE DRIVERS:.*pulseaudio'; then
	soxin=(-t pulseaudio "$sink.monitor")
else
	soxin=(-t alsa default) # libsox-fmt-pulse is not installed
fi

espeak-ng -w "$work/speech.wav" "The patient reports three days of chest pain, worse on exertion and relieved by rest. \
No shortness of breath. Blood pressure one hundred and thirty over eighty five."
(while :; do "$here/vmic.sh" pulse-play "$sink" "$work/speech.wav" || exit; done) &
player=$!

# Both start together and hear the same audio.
/usr/bin/time -f '%U %S %e' -o "$work/sox.time" \
	sox -q "${soxin[@]}" -r 16000 -c 1 -b 16 "$work/sox.wav" trim 0 "$secs" &
soxpid=$!
/usr/bin/time -f '%U %S %e' -o "$work/cmd.time" "$@" >"$work/cmd.log" 2>&1 &
cmdpid=$!
status=0
wait "$soxpid" || { echo "cpu-ratio: sox failed" >&2; status=1; }
wait "$cmdpid" || { echo "cpu-ratio: $1 failed; its output:" >&2; tail -20 "$work/cmd.log" >&2; status=1; }
[[ $status == 0 ]] || exit 1

read -r su ss se <"$work/sox.time"
read -r cu cs ce <"$work/cmd.time"
awk -v su="$su" -v ss="$ss" -v se="$se" -v cu="$cu" -v cs="$cs" -v ce="$ce" -v cmd="$1" 'BEGIN {
	sc = su + ss; cc = cu + cs
	printf "sox:  %.2f s CPU (user %.2f + sys %.2f) over %.1f s\n", sc, su, ss, se
	printf "%s: %.2f s CPU (user %.2f + sys %.2f) over %.1f s\n", cmd, cc, cu, cs, ce
	if (sc > 0 && se > 0) {
		printf "ratio %s/sox: %.2f (per wall second: %.2f)\n", cmd, cc / sc, (cc / ce) / (sc / se)
	} else {
		print "ratio: sox used no measurable CPU"
	}
}'
