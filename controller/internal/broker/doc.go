// Package broker owns the controller's MQTT edge: an embedded mochi-mqtt
// broker with a deny-by-default authentication and ACL hook, and the Bus
// seam through which the rest of the controller publishes and subscribes,
// either in-process on the embedded broker or through paho to an external
// broker (Mosquitto, EMQX).
//
// The ACL is the only thing standing between a stolen device password and
// the rest of the fleet, so it refuses everything it does not positively
// recognise: a device (one credential per device, client ID = username)
// may publish only to its own uplink topics, subscribe to and receive only
// its own downlink topics, retain only its own status, and leave a will only
// on its own status topic. Topic rules come from internal/protocol, never
// from this package.
package broker
