//go:build !race

package admin

// hammerCost is the bcrypt cost of the throttle tests' password: about
// 80 ms of one core per check, bcrypt.DefaultCost.
const hammerCost = 10
