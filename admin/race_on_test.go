//go:build race

package admin

// hammerCost is the bcrypt cost of the throttle tests' password: about
// 80 ms of one core per check under the race detector, as cost 10 takes
// without it.
const hammerCost = 6
