#!/usr/bin/env bash
# Regenerates demo.webm, the devnet's and e2e tests' sample video, with Debian's ffmpeg
# (apt-get install ffmpeg): 20 s of ffmpeg's testsrc2 pattern with a running timecode and a
# 440 Hz tone, VP9 + Opus in WebM, a keyframe every second so seeks land precisely.
set -euo pipefail
cd "$(dirname "$0")"
ffmpeg -y -hide_banner -loglevel error \
  -f lavfi -i "testsrc2=size=640x360:rate=25:duration=20" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=20" \
  -vf "drawtext=text='Peerloom demo %{pts\\:hms}':x=20:y=20:fontsize=28:fontcolor=white:box=1:boxcolor=black@0.6" \
  -c:v libvpx-vp9 -b:v 500k -g 25 -keyint_min 25 -deadline good -cpu-used 4 -row-mt 1 \
  -c:a libopus -b:a 64k \
  demo.webm
ffprobe -hide_banner -loglevel error -show_entries format=duration,size -of compact demo.webm
