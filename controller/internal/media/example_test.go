package media_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/guardcast/guardcast/controller/internal/media"
)

func Example() {
	dir, _ := os.MkdirTemp("", "media-example")
	defer os.RemoveAll(dir)
	lib, err := media.Open(filepath.Join(dir, "library"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	info, err := lib.AddReader(ctx, strings.NewReader("警惕电信诈骗：不听、不信、不转账。反诈热线 96110\n"), "hotline-zh.txt")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Kind, info.MIME, info.Size)
	// The store records info; agents fetch GET /media/{sha256} from lib.Handler().

	_, err = lib.AddReader(ctx, strings.NewReader("RIFF\x24\x00\x00\x00WAVE"), "atm.wav")
	fmt.Println(err)
	_, err = lib.AddReader(ctx, strings.NewReader("hi"), "../../etc/motd.txt")
	fmt.Println(err)
	// Output:
	// text text/plain; charset=utf-8 70
	// media add "atm.wav": corrupt WAV: no fmt chunk
	// media add "../../etc/motd.txt": name "../../etc/motd.txt" contains a path separator; give a base name only
}

func ExampleWatchInbox() {
	lib, err := media.Open("/var/lib/guardcast/media")
	if err != nil {
		log.Fatal(err)
	}
	ingest := func(ctx context.Context, path, name string) error {
		info, err := lib.Add(ctx, path, name)
		if err != nil {
			return err // validation errors move the file to inbox/rejected/
		}
		_ = info // record it in the store here
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a real main cancels on SIGTERM
	_ = media.WatchInbox(ctx, "/var/lib/guardcast/inbox", 0, ingest, nil)
}
