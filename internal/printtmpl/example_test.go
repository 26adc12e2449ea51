package printtmpl_test

import (
	"fmt"

	"github.com/guardcast/guardcast/internal/printtmpl"
)

func Example() {
	t, err := printtmpl.Parse("{{.Site}}\n{{if .Room}}Room {{.Room}}\n{{end}}反诈热线 {{.Hotline}}")
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := t.Render(printtmpl.Data{Site: "Harbour Hotel", Hotline: "96110"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s)

	_, err = printtmpl.Parse("{{range .Site}}x{{end}}")
	fmt.Println(err)
	// Output:
	// Harbour Hotel
	// 反诈热线 96110
	// print template: "{{range .Site}}x{{end}}" is not allowed (only {{.Field}} and {{if}}; fields: .Date .Time .Site .Unit .Room .Hotline)
}
