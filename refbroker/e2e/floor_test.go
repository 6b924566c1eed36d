package e2e_test

// floorChunk is the floors' read and write size: 1 MiB, as large as the
// broker's largest, so that per-call costs cannot make a floor higher.
const floorChunk = 1 << 20
