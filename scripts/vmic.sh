#!/usr/bin/env bash
# Virtual microphones for tests and CI, where there is no sound card (and no
# snd-aloop): see MACHINE-NOTES, "Virtual microphones".
#
#   scripts/vmic.sh pulse-up [SINK]        start PulseAudio if none is reachable, add a null sink SINK
#                                          (default "vmic"); prints `export PULSE_SERVER=…` lines
#   scripts/vmic.sh pulse-play SINK FILE   play FILE into SINK in real time (returns when done)
#   scripts/vmic.sh pulse-down [SINK]      unplug SINK: end its streams and recordings, remove it
#                                          (the daemon stays; it exits when idle)
#   scripts/vmic.sh pulse-stop             stop the PulseAudio daemon this script started
#   scripts/vmic.sh alsa-pulse SINK DIR    write DIR/asound.conf: ALSA's default capture device is
#                                          SINK's monitor; prints `export ALSA_CONFIG_PATH=…`
#   scripts/vmic.sh alsa-file RAW DIR [RATE [CHANNELS [FORMAT]]]
#                                          write DIR/asound.conf: ALSA's default capture device reads
#                                          RAW (FORMAT, RATE Hz, CHANNELS; default FLOAT_LE, 44100, 2)
#                                          as fast as it is asked, then silence; prints
#                                          `export ALSA_CONFIG_PATH=…`. FORMAT must be the format the
#                                          client asks for (FLOAT_LE for PortAudio/Scribe, S16_LE for
#                                          `arecord -f S16_LE`): when plug converts formats, the file
#                                          plugin reads the file at the client's frame size and the
#                                          audio comes out scrambled.
#   scripts/vmic.sh alsa-out FILE DIR [RATE [CHANNELS [FORMAT]]]
#                                          write DIR/asound.conf: ALSA's default playback device
#                                          writes what is played to FILE (raw FORMAT, RATE Hz,
#                                          CHANNELS; default S16_LE, 16000, 1), converted from
#                                          whatever the client plays, as fast as it is written (no
#                                          clock); prints `export ALSA_CONFIG_PATH=…`. Each stream
#                                          opened truncates FILE (created 0600).
#
# Nothing here touches ~/.asoundrc or the system's default source: each
# ALSA config is a file of its own, selected with ALSA_CONFIG_PATH, and names
# its sink's monitor explicitly, so several test runs can share one daemon.
# A server the caller already reaches (a desktop session) is used as is,
# unless VMIC_OWN=1. Otherwise the script's own daemon runs with
# XDG_RUNTIME_DIR=$VMIC_RUNTIME (a 0700 folder, default /tmp/scribe-vmic-$UID)
# and exits after $VMIC_IDLE_EXIT seconds without clients (default 120; -1
# keeps it). Its default sink is a discard sink, so that a stream still
# playing into a sink that is removed is moved there rather than into
# another test's microphone; pulse-down also stops the sink's streams first.
set -euo pipefail

RUNTIME=${VMIC_RUNTIME:-/tmp/scribe-vmic-$(id -u)}
IDLE_EXIT=${VMIC_IDLE_EXIT:-120}
OWN=${VMIC_OWN:-0}
DISCARD=scribe_vmic_discard

die() { echo "vmic: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 is not installed (apt-get install ${2:-$1})"; }

# server prints the address of a reachable PulseAudio server, or fails.
server() {
	local s
	s=$(pactl info 2>/dev/null | sed -n 's/^Server String: //p') || return 1
	[[ -n $s ]] || return 1
	case $s in unix:*|tcp:*) echo "$s" ;; *) echo "unix:$s" ;; esac
}

has_sink() { pactl list short sinks | awk '{print $2}' | grep -qx "$1"; }

ensure_runtime() {
	mkdir -p "$RUNTIME"
	chmod 0700 "$RUNTIME"
}

# use_ours points pactl/paplay at the script's daemon unless the caller
# reaches a server already (and VMIC_OWN is not set).
use_ours() {
	if [[ $OWN == 1 ]] || ! server >/dev/null; then
		export XDG_RUNTIME_DIR=$RUNTIME
		unset PULSE_SERVER
		return 0
	fi
	return 1
}

pulse_up() {
	local sink=${1:-vmic}
	need pulseaudio pulseaudio
	need pactl pulseaudio-utils
	if use_ours; then
		ensure_runtime
		if ! server >/dev/null; then
			# A second caller starting at the same moment loses the
			# pid-file race and uses the winner's daemon.
			# The CLI protocol is for pacmd: pactl cannot end streams.
			pulseaudio -D -n --exit-idle-time="$IDLE_EXIT" --use-pid-file=yes \
				-L module-native-protocol-unix -L module-cli-protocol-unix >/dev/null 2>&1 || true
			local _
			for _ in $(seq 100); do
				server >/dev/null && break
				sleep 0.1
			done
			server >/dev/null ||
				die "pulseaudio would not start in $RUNTIME (try: pulseaudio -n -v -L module-native-protocol-unix)"
			echo started >"$RUNTIME/started-by-vmic"
		fi
		if ! has_sink "$DISCARD"; then
			pactl load-module module-null-sink "sink_name=$DISCARD" >/dev/null ||
				die "cannot add the discard sink"
			pactl set-default-sink "$DISCARD"
		fi
	fi
	local srv
	srv=$(server)
	if ! has_sink "$sink"; then
		pactl load-module module-null-sink "sink_name=$sink" rate=48000 channels=2 \
			"sink_properties=device.description=$sink" >/dev/null ||
			die "cannot add null sink $sink"
	fi
	echo "export PULSE_SERVER=$srv"
	echo "export VMIC_SINK=$sink"
	echo "export VMIC_SOURCE=$sink.monitor"
}

pulse_play() {
	local sink=${1:?sink} file=${2:?file}
	[[ -r $file ]] || die "cannot read $file"
	need paplay pulseaudio-utils
	use_ours || true
	paplay -d "$sink" "$file"
}

pulse_down() {
	local sink=${1:-vmic}
	use_ours || true
	server >/dev/null || return 0
	# Like unplugging a microphone: streams playing into the sink and
	# recordings from its monitor end (PulseAudio would otherwise move them
	# to another sink or source, where they would leak into another test).
	# This needs pacmd, which works with the script's own daemon; on other
	# servers the streams are moved instead.
	local idx i m
	idx=$(pactl list short sinks | awk -v s="$sink" '$2 == s {print $1}')
	if [[ -n $idx ]]; then
		for i in $(pactl list short sink-inputs | awk -v s="$idx" '$2 == s {print $1}'); do
			pacmd kill-sink-input "$i" >/dev/null 2>&1 || true
		done
	fi
	idx=$(pactl list short sources | awk -v s="$sink.monitor" '$2 == s {print $1}')
	if [[ -n $idx ]]; then
		for i in $(pactl list short source-outputs | awk -v s="$idx" '$2 == s {print $1}'); do
			pacmd kill-source-output "$i" >/dev/null 2>&1 || true
		done
	fi
	for m in $(pactl list short modules | awk -v a="sink_name=$sink" '$2=="module-null-sink" && index($0, a" ") {print $1}'); do
		pactl unload-module "$m"
	done
}

pulse_stop() {
	[[ -f $RUNTIME/started-by-vmic ]] || { echo "vmic: no daemon started by this script" >&2; return 0; }
	export XDG_RUNTIME_DIR=$RUNTIME
	pulseaudio --kill 2>/dev/null || true
	# --kill only signals: wait for the daemon to be gone, so that the
	# caller can remove $RUNTIME.
	local _
	for _ in $(seq 50); do
		pulseaudio --check 2>/dev/null || break
		sleep 0.1
	done
	rm -f "$RUNTIME/started-by-vmic"
}

alsa_header() {
	local dir=$1
	mkdir -p "$dir"
	# The system configuration first (plugins, card names), then ours,
	# which overrides the default device.
	echo "</usr/share/alsa/alsa.conf>" >"$dir/asound.conf"
}

alsa_pulse() {
	local sink=${1:?sink} dir=${2:?dir} srv
	use_ours || true
	srv=$(server) || die "no PulseAudio server; run: $0 pulse-up $sink"
	alsa_header "$dir"
	cat >>"$dir/asound.conf" <<EOF
pcm.!default { type pulse server "$srv" device "$sink.monitor" hint { show on description "Scribe virtual microphone ($sink)" } }
ctl.!default { type pulse server "$srv" }
EOF
	echo "export ALSA_CONFIG_PATH=$dir/asound.conf"
}

alsa_file() {
	local raw=${1:?raw file} dir=${2:?dir} rate=${3:-44100} ch=${4:-2} format=${5:-FLOAT_LE}
	[[ -r $raw ]] || die "cannot read $raw"
	alsa_header "$dir"
	# plug adapts rate and channels to what the client asks for (the format
	# must already match; see the usage above); the file plugin reads RAW as
	# the capture data; null is the clock, that is none: reads return at
	# once, so a callback client gets the file far faster than real time.
	cat >>"$dir/asound.conf" <<EOF
pcm.!default { type plug slave { pcm "scribe_vmic_file" format $format rate $rate channels $ch } hint { show on description "Scribe virtual microphone (file)" } }
pcm.scribe_vmic_file { type file slave.pcm "null" file "/dev/null" infile "$raw" format "raw" }
EOF
	echo "export ALSA_CONFIG_PATH=$dir/asound.conf"
}

alsa_out() {
	local out=${1:?output file} dir=${2:?dir} rate=${3:-16000} ch=${4:-1} format=${5:-S16_LE}
	[[ -d $(dirname "$out") ]] || die "no folder for $out"
	alsa_header "$dir"
	# The mirror of alsa-file: plug converts what the client plays into
	# FORMAT, RATE and CHANNELS (writing, unlike reading, converts correctly,
	# though a rate change shifts the audio by a few samples); the file
	# plugin writes it to FILE; null is the clock, that is none.
	cat >>"$dir/asound.conf" <<EOF
pcm.!default { type plug slave { pcm "scribe_vmic_out" format $format rate $rate channels $ch } hint { show on description "Scribe virtual speaker (file)" } }
pcm.scribe_vmic_out { type file slave.pcm "null" file "$out" format "raw" perm 0600 }
EOF
	echo "export ALSA_CONFIG_PATH=$dir/asound.conf"
}

cmd=${1:-}
shift || true
case $cmd in
pulse-up) pulse_up "$@" ;;
pulse-play) pulse_play "$@" ;;
pulse-down) pulse_down "$@" ;;
pulse-stop) pulse_stop ;;
alsa-pulse) alsa_pulse "$@" ;;
alsa-file) alsa_file "$@" ;;
alsa-out) alsa_out "$@" ;;
*) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2 ;;
esac
