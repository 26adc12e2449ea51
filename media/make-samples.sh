#!/bin/sh
# make-samples.sh — regenerate GuardCast's sample anti-fraud media.
#
# Everything here is made by this project from scratch: speech by espeak-ng,
# pictures and video by ffmpeg's lavfi generators and drawtext (DejaVu font),
# audio conversion by sox/ffmpeg. No downloads. The outputs are committed so
# `make demo` never needs these tools; run this only to change a sample.
#
# Needs (Debian): apt-get install -y espeak-ng sox ffmpeg fonts-dejavu-core
# Idempotent: it overwrites its own outputs and nothing else.
# Check afterwards: go test ./controller/internal/media/ -run TestSamples
set -eu
cd "$(dirname "$0")"

for tool in espeak-ng sox ffmpeg; do
	command -v "$tool" >/dev/null || { echo "make-samples: $tool not found (apt-get install -y espeak-ng sox ffmpeg fonts-dejavu-core)" >&2; exit 1; }
done
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
[ -r "$FONT" ] || { echo "make-samples: $FONT not found (apt-get install -y fonts-dejavu-core)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }

echo "make-samples: LED sign texts"
printf '%s\n' '警惕电信诈骗：不听、不信、不转账。反诈热线 96110' > hotline-zh.txt
printf '%s\n' "Beware of phone scams: never transfer money to a 'safe account'. Anti-fraud hotline 96110" > hotline-en.txt

echo "make-samples: ATM voice prompt (espeak-ng Mandarin, 16 kHz mono 16-bit, silence trimmed)"
espeak-ng -v cmn -s 240 -g 2 -w "$tmp/voice.wav" '请注意，公安机关不会通过电话要求您转账。'
sox "$tmp/voice.wav" -r 16000 -b 16 -c 1 atm-voice-zh.wav \
	silence 1 0.05 0.5% reverse silence 1 0.05 0.5% reverse
# The same prompt compressed, for agents that prefer small downloads.
ff -i atm-voice-zh.wav -map_metadata -1 -fflags +bitexact -c:a libmp3lame -b:a 32k -ar 16000 -ac 1 atm-voice-zh.mp3
ff -i atm-voice-zh.wav -map_metadata -1 -fflags +bitexact -c:a libvorbis -q:a 1 atm-voice-zh.ogg

echo "make-samples: hall-TV poster (320x160 PNG)"
ff -f lavfi -i "color=c=0xB00020:s=320x160" -frames:v 1 -vf "\
drawbox=x=6:y=6:w=308:h=148:color=white@0.9:t=3,\
drawtext=fontfile=$FONT:text='BEWARE OF PHONE SCAMS':fontcolor=white:fontsize=19:x=(w-text_w)/2:y=34,\
drawtext=fontfile=$FONT:text='Never transfer to a safe account':fontcolor=white:fontsize=14:x=(w-text_w)/2:y=74,\
drawtext=fontfile=$FONT:text='Hotline 96110':fontcolor=yellow:fontsize=28:x=(w-text_w)/2:y=104" \
	-fflags +bitexact -flags +bitexact poster.png

echo "make-samples: hall-TV clip (3 s, 320x180 H.264 + silent AAC)"
ff -f lavfi -i "color=c=0xB00020:s=320x180:r=15:d=3" -f lavfi -i "anullsrc=r=22050:cl=mono" -t 3 -vf "\
drawtext=fontfile=$FONT:text='BEWARE OF PHONE SCAMS':fontcolor=white:fontsize=20:x=(w-text_w)/2:y=40,\
drawtext=fontfile=$FONT:text='Police never ask you to transfer money':fontcolor=white:fontsize=13:x=(w-text_w)/2:y=82,\
drawtext=fontfile=$FONT:text='Hotline 96110':fontcolor=yellow:fontsize=26:x=(w-text_w)/2:y=112:alpha='if(lt(t,0.5),t*2,1)'" \
	-map_metadata -1 -fflags +bitexact -c:v libx264 -profile:v baseline -pix_fmt yuv420p -preset veryslow -crf 30 \
	-x264-params threads=1 -c:a aac -b:a 24k -shortest -movflags +faststart warning.mp4

echo "make-samples: keycard / receipt print template"
cat > keycard-reminder.tpl <<'TPL'
{{.Site}}
{{if .Room}}房间 Room {{.Room}}    {{end}}{{.Date}} {{.Time}}
--------------------------------
防范电信诈骗 温馨提示
陌生来电要求转账到“安全账户”，一定是诈骗。
公安机关不会通过电话办案、要求转账。
BEWARE OF PHONE SCAMS
Police and banks never ask you to move money
to a "safe account" by phone.
反诈热线 Anti-fraud hotline: {{.Hotline}}
--------------------------------
TPL

ls -l hotline-zh.txt hotline-en.txt atm-voice-zh.wav atm-voice-zh.mp3 atm-voice-zh.ogg poster.png warning.mp4 keycard-reminder.tpl
echo "make-samples: done"
