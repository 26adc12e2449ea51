package org_test

import (
	"fmt"

	"github.com/guardcast/guardcast/controller/internal/org"
)

// A branch inherits the town's zone and quiet hours; an alert to the
// bank reaches its devices, one to the hotel does not.
func Example() {
	quiet, _ := org.ParseQuiet([]string{"daily,22:00-07:00"})
	tree, err := org.Build([]org.Node{
		{ID: "town", Kind: org.KindTown, Name: "Qingshan", TZ: "Asia/Shanghai", Quiet: quiet},
		{ID: "icbc", Kind: org.KindUnit, Name: "ICBC", Parent: "town"},
		{ID: "icbc-07", Kind: org.KindSite, Name: "Branch 7", Parent: "icbc"},
		{ID: "hotel", Kind: org.KindSite, Name: "Hotel", Parent: "town", TZ: "Europe/Berlin"},
	}, []org.Person{{Node: "icbc", Role: org.RoleFirstResponsible, Name: "Wang Fang", Phone: "138 0000 0001"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	chain := tree.Chain("icbc-07")
	fmt.Println(chain, tree.TZ("icbc-07"), org.FormatDaypart(tree.Quiet("icbc-07")[0]))
	holder, people := tree.Responsible("icbc-07")
	fmt.Println(holder, people[0].Name)
	fmt.Println(org.Addressed([]string{"icbc"}, "icbc-07-atm", chain), org.Addressed([]string{"hotel"}, "icbc-07-atm", chain))
	// Output:
	// [icbc-07 icbc town] Asia/Shanghai daily,22:00-07:00
	// icbc Wang Fang
	// true false
}
