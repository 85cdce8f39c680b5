package api

import "context"

// BillingPlan is the team's current plan.
func (c *Client) BillingPlan(ctx context.Context) (BillingPlan, error) {
	r, err := call(ctx, c, c.raw.GetBillingPlanWithResponse)
	if err != nil {
		return BillingPlan{}, err
	}
	return decoded(r.JSON200, r.HTTPResponse)
}

// BillingUsage is the usage in the current billing period.
func (c *Client) BillingUsage(ctx context.Context) (BillingUsage, error) {
	r, err := call(ctx, c, c.raw.GetBillingUsageWithResponse)
	if err != nil {
		return BillingUsage{}, err
	}
	return decoded(r.JSON200, r.HTTPResponse)
}

// BillingEstimate is the estimated charge for the current billing period.
func (c *Client) BillingEstimate(ctx context.Context) (BillingEstimate, error) {
	r, err := call(ctx, c, c.raw.GetBillingEstimateWithResponse)
	if err != nil {
		return BillingEstimate{}, err
	}
	return decoded(r.JSON200, r.HTTPResponse)
}
