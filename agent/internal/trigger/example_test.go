package trigger_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/guardcast/guardcast/agent/internal/trigger"
)

// The daemon is the Firer; here a function stands in for it. A teller's
// till (or curl) posts the trigger; a GPIO button driver would call Fire.
func ExampleNewServer() {
	bound := map[string]bool{"large-transfer": true}
	s, err := trigger.NewServer(trigger.DefaultOpts, trigger.FirerFunc(func(name string) bool { return bound[name] }), nil)
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"large-transfer", "fire-drill"} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/trigger/"+name, nil))
		fmt.Println(name, rec.Code)
	}
	// Output:
	// large-transfer 202
	// fire-drill 404
}
