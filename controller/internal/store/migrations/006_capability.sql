-- The capability version (protocol.CapabilityVersion) each device's agent
-- last announced in its hello; the compiler encodes the device's desired
-- state for it. Devices that never said, and agents older than the
-- capability field, are 1.
ALTER TABLE devices ADD COLUMN capability INTEGER NOT NULL DEFAULT 1;
